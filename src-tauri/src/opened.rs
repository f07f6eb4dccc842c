//! Install links opened with the app (`patchbay://install?...`, DESIGN.md and
//! `docs/architecture.md`): the deep-link plugin hands them over, at start (the link is the
//! app's argument) or to the running instance (the single-instance plugin forwards a second
//! start's argument). The shell keeps the latest one, opens the window and tells it
//! ([`INSTALL_LINK_EVENT`]); the window takes it ([`take`]) and asks the hub what it adds. The
//! shell reads nothing of the link: the hub's parser (`registry::link`) does.

use std::sync::Mutex;

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

/// The Tauri event that tells the window a link waits ([`take`] reads it).
pub const INSTALL_LINK_EVENT: &str = "install-link";

/// The latest link opened and not yet taken by the window.
#[derive(Default)]
pub struct Pending(Mutex<Option<String>>);

impl Pending {
    /// The waiting link, taken (the next call answers none).
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, link: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(link);
    }
}

/// Keep the link the app was started with, and follow the ones opened while it runs.
pub fn follow(app: &AppHandle) {
    app.manage(Pending::default());
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        if let Some(url) = event.urls().into_iter().next_back() {
            arrived(&handle, url.to_string());
        }
    });
    if let Ok(Some(urls)) = app.deep_link().get_current()
        && let Some(url) = urls.into_iter().next_back()
    {
        app.state::<Pending>().put(url.to_string());
    }
}

/// Whether the app was started by a link (then its window opens, whatever `--tray` says).
pub fn waiting(app: &AppHandle) -> bool {
    app.state::<Pending>().0.lock().is_ok_and(|p| p.is_some())
}

fn arrived(app: &AppHandle, link: String) {
    app.state::<Pending>().put(link);
    if let Err(err) = crate::window::open(app) {
        tracing::warn!("cannot open the window for an install link: {err}");
    }
    // A window just made listens once loaded, and takes the link then.
    let _ = app.emit(INSTALL_LINK_EVENT, ());
}
