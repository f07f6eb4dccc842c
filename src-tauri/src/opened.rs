//! What the app is opened with, for the window to add: an install link
//! (`patchbay://install?...`, DESIGN.md and `docs/architecture.md`) or an `.mcpb` bundle file
//! (the file type is the app's: `bundle.fileAssociations` in `tauri.conf.json`).
//!
//! A link comes through the deep-link plugin; a bundle file is the app's argument (Linux,
//! Windows) or an `Opened` run event (macOS, a `file://` URL). Either arrives at start or, from
//! a second start, at the running instance (the single-instance plugin forwards its arguments).
//! The shell keeps the latest one, opens the window and tells it ([`OPENED_EVENT`]); the window
//! takes it ([`Pending::take`]) and asks the hub what it adds. The shell reads neither: the
//! hub's parser (`registry::link`) reads links and the hub's `bundle` module reads bundles.

use std::path::Path;
use std::sync::Mutex;

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

/// The Tauri event that tells the window something to add waits ([`Pending::take`] reads it).
pub const OPENED_EVENT: &str = "opened";

/// The scheme of install links.
const LINK_SCHEME: &str = "patchbay://";

/// The extension of MCP Bundle files.
const BUNDLE_EXTENSION: &str = "mcpb";

/// Something the app was opened with, as the window takes it (`{"link": ...}` or
/// `{"bundle": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Opened {
    /// An install link, as opened.
    Link(String),
    /// The absolute path of an `.mcpb` bundle file.
    Bundle(String),
}

/// The latest thing opened and not yet taken by the window.
#[derive(Default)]
pub struct Pending(Mutex<Option<Opened>>);

impl Pending {
    /// The waiting one, taken (the next call answers none).
    pub fn take(&self) -> Option<Opened> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, opened: Opened) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(opened);
    }
}

/// Whether `path` names an `.mcpb` file (any case of the extension).
fn is_bundle(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(BUNDLE_EXTENSION))
}

/// What one argument opens: an install link, a bundle file (a path, made absolute against
/// `cwd`, or a `file://` URL as a desktop entry's `%U` gives it); none for a flag or anything
/// else.
fn opened_by_argument(arg: &str, cwd: &Path) -> Option<Opened> {
    if arg.starts_with(LINK_SCHEME) {
        return Some(Opened::Link(arg.to_owned()));
    }
    if arg.starts_with('-') {
        return None;
    }
    let path = match arg.strip_prefix("file://") {
        Some(_) => tauri::Url::parse(arg).ok()?.to_file_path().ok()?,
        None => cwd.join(arg),
    };
    is_bundle(&path).then(|| Opened::Bundle(path.display().to_string()))
}

/// What the app's arguments (its own name left out) open: the last link or bundle file among
/// them; flags (`--tray`) and other arguments open nothing.
pub fn opened_by(args: &[String], cwd: &Path) -> Option<Opened> {
    args.iter()
        .filter_map(|arg| opened_by_argument(arg, cwd))
        .next_back()
}

/// Keep what the app was started with, and follow what is opened while it runs.
pub fn follow(app: &AppHandle) {
    app.manage(Pending::default());
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        if let Some(url) = event.urls().into_iter().next_back() {
            arrived(&handle, Opened::Link(url.to_string()));
        }
    });
    let linked = app.deep_link().get_current().ok().flatten();
    if let Some(url) = linked.and_then(|urls| urls.into_iter().next_back()) {
        app.state::<Pending>().put(Opened::Link(url.to_string()));
    } else if let Ok(cwd) = std::env::current_dir() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(bundle @ Opened::Bundle(_)) = opened_by(&args, &cwd) {
            app.state::<Pending>().put(bundle);
        }
    }
}

/// A second start's arguments (its own name first), forwarded by the single-instance plugin:
/// a bundle file opens the window on its consent view; a link is the deep-link plugin's, and
/// anything else just shows the window.
pub fn second_start(app: &AppHandle, args: &[String], cwd: &str) {
    match opened_by(args.get(1..).unwrap_or_default(), Path::new(cwd)) {
        Some(bundle @ Opened::Bundle(_)) => arrived(app, bundle),
        _ => {
            if let Err(err) = crate::window::open(app) {
                tracing::warn!("cannot open the window: {err}");
            }
        }
    }
}

/// Files opened with the app on macOS (`RunEvent::Opened`): the last `.mcpb` one.
#[cfg(target_os = "macos")]
pub fn opened_files(app: &AppHandle, urls: &[tauri::Url]) {
    let bundle = (urls.iter())
        .filter(|url| url.scheme() == "file")
        .filter_map(|url| url.to_file_path().ok())
        .filter(|path| is_bundle(path))
        .next_back();
    if let Some(path) = bundle {
        arrived(app, Opened::Bundle(path.display().to_string()));
    }
}

/// Whether the app was started with something to add (then its window opens, whatever `--tray`
/// says).
pub fn waiting(app: &AppHandle) -> bool {
    app.state::<Pending>().0.lock().is_ok_and(|p| p.is_some())
}

fn arrived(app: &AppHandle, opened: Opened) {
    app.state::<Pending>().put(opened);
    if let Err(err) = crate::window::open(app) {
        tracing::warn!("cannot open the window for what was opened: {err}");
    }
    // A window just made listens once loaded, and takes it then.
    let _ = app.emit(OPENED_EVENT, ());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_bundle_path_is_made_absolute_against_the_folder_it_was_given_in() {
        let cwd = Path::new("/home/ada/Downloads");
        assert_eq!(
            opened_by(&args(&["weather.mcpb"]), cwd),
            Some(Opened::Bundle("/home/ada/Downloads/weather.mcpb".into()))
        );
        assert_eq!(
            opened_by(&args(&["--tray", "/tmp/Weather.MCPB"]), cwd),
            Some(Opened::Bundle("/tmp/Weather.MCPB".into())),
            "an absolute path stays; the extension in any case"
        );
        assert_eq!(
            opened_by(&args(&["file:///tmp/my%20weather.mcpb"]), cwd),
            Some(Opened::Bundle("/tmp/my weather.mcpb".into())),
            "a file URL (a desktop entry's %U) is its path"
        );
    }

    #[test]
    fn links_are_links_and_flags_and_other_files_open_nothing() {
        let cwd = Path::new("/home/ada");
        let link = "patchbay://install?v=1&name=io.example%2Fweather";
        assert_eq!(
            opened_by(&args(&[link]), cwd),
            Some(Opened::Link(link.into()))
        );
        assert_eq!(opened_by(&args(&["--tray"]), cwd), None);
        assert_eq!(opened_by(&args(&["--x.mcpb"]), cwd), None, "a flag");
        assert_eq!(opened_by(&args(&["notes.txt", "mcpb"]), cwd), None);
        assert_eq!(opened_by(&args(&[]), cwd), None);
        assert_eq!(
            opened_by(&args(&["a.mcpb", link]), cwd),
            Some(Opened::Link(link.into())),
            "the last one wins"
        );
    }
}
