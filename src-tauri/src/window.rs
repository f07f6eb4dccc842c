//! The one window: made when opened, destroyed when closed, so with only the tray no WebKit
//! process runs (DESIGN.md: the app is a thin shell; the footprint figures).

use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

/// The window's label; the capability in `src-tauri/capabilities/` names it.
pub const MAIN: &str = "main";

/// The Tauri event that turns the window to a page (its id, as `ui/src/app.tsx` names pages).
pub const SHOW_PAGE_EVENT: &str = "show-page";

/// Show the window on its Servers page. A window already there is told to turn to it; a window
/// made now starts on it (its first page) and hears nothing, since it listens only once loaded.
pub fn open_servers(app: &AppHandle) -> tauri::Result<()> {
    let there = app.get_webview_window(MAIN).is_some();
    open(app)?;
    if there {
        app.emit_to(MAIN, SHOW_PAGE_EVENT, "servers")?;
    }
    Ok(())
}

/// Show the window, making it if it is not there; focus it either way.
pub fn open(app: &AppHandle) -> tauri::Result<()> {
    if let Some(window) = app.get_webview_window(MAIN) {
        window.unminimize()?;
        window.show()?;
        return window.set_focus();
    }
    let window = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Patchbay")
        .inner_size(1040.0, 720.0)
        .min_inner_size(640.0, 480.0)
        .build()?;
    window.set_focus()
}
