//! The app's own updates, through Tauri's updater plugin: a check reads the signed update
//! manifest, and an update is downloaded and installed only after the user's yes in the window.
//!
//! The release workflow signs each bundle (minisign) with the signature bound to its version
//! (`tauri signer sign --app-version`; `requireSignedVersion` in `tauri.conf.json`), and bakes
//! the public key and the manifest's URL into the release build. A build without a key (every
//! development build) says that updates are off, and why. The plugin refuses an update whose
//! signature does not match the key, or whose manifest announces another version than the one
//! signed.
//!
//! `PATCHBAY_UPDATE_URL` reads the manifest from another place (a company's mirror, the tests):
//! https, or http to this machine only. A debug build also takes the public key from
//! `PATCHBAY_UPDATE_PUBKEY` (the tests sign their own builds); a release build never does.
//!
//! The state ([`UpdateState`]) lives here; every change is sent to the window
//! ([`UPDATE_EVENT`]) and to the tray, which shows an available version. Checks are made on
//! request (the tray's "Check for updates…", the window's button) and, when the setting is on
//! (the default), a minute after start and then daily; a check never installs anything.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, Url};
use tauri_plugin_updater::{Update, UpdaterExt};
use tokio::sync::Mutex;

use crate::error::AppError;

/// The environment variable naming another update manifest URL.
pub const URL_ENV: &str = "PATCHBAY_UPDATE_URL";
/// The environment variable a debug build takes the public key from.
pub const PUBKEY_ENV: &str = "PATCHBAY_UPDATE_PUBKEY";
/// The Tauri event carrying the new [`UpdateState`] to the window.
pub const UPDATE_EVENT: &str = "app-update";
/// The first automatic check, after start: the hub and the window come first.
const FIRST_CHECK: Duration = Duration::from_secs(60);
/// Between automatic checks.
const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Where updates come from in this build, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The configured endpoints, or this one manifest URL.
    Manifest(Option<Url>),
    /// Updates are off in this build, for this reason.
    Off(String),
}

/// Where updates come from: `pubkey` and `endpoints` as configured, `env_url` from
/// [`URL_ENV`], `env_pubkey` from [`PUBKEY_ENV`] (a debug build only).
pub fn source(
    pubkey: &str,
    endpoints: usize,
    env_url: Option<&str>,
    env_pubkey: Option<&str>,
) -> Source {
    if pubkey.trim().is_empty() && env_pubkey.is_none_or(|k| k.trim().is_empty()) {
        return Source::Off(
            "this build has no update key (only release builds update themselves)".into(),
        );
    }
    match env_url.filter(|u| !u.trim().is_empty()) {
        Some(url) => match manifest_url(url) {
            Ok(url) => Source::Manifest(Some(url)),
            Err(why) => Source::Off(format!("{URL_ENV} `{url}` {why}")),
        },
        None if endpoints == 0 => Source::Off("this build names no update manifest".into()),
        None => Source::Manifest(None),
    }
}

/// An update manifest URL: https, or http to this machine only.
fn manifest_url(text: &str) -> Result<Url, &'static str> {
    let url = Url::parse(text.trim()).map_err(|_| "is not a URL")?;
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err("is plain http to another machine; use https"),
        _ => Err("is neither https nor http"),
    }
}

/// What the window shows of the app's updates.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UpdateState {
    /// The version running.
    pub current: String,
    /// Why this build does not update itself; `None` when it does.
    pub off: Option<String>,
    /// Whether checks are made by themselves (a minute after start, then daily).
    pub automatic: bool,
    /// Where the last check or install stands.
    pub phase: Phase,
}

/// Where a check or an install stands.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Phase {
    /// Nothing checked yet.
    Idle,
    /// A check is running.
    Checking,
    /// The last check found nothing newer.
    UpToDate,
    /// A newer version waits for the user's yes.
    Available {
        /// Its version.
        version: String,
        /// Its release notes, as the manifest has them.
        notes: Option<String>,
        /// When it was published, as the manifest has it.
        date: Option<String>,
    },
    /// It is being downloaded (then checked and installed).
    Downloading {
        /// Its version.
        version: String,
        /// Bytes so far.
        downloaded: u64,
        /// Bytes in all, when the server said.
        total: Option<u64>,
    },
    /// It is installed; the app runs it once restarted.
    Installed {
        /// Its version.
        version: String,
    },
    /// The last check or install failed.
    Failed {
        /// Why, for a person.
        message: String,
    },
}

/// The setting kept between runs, in `app.json` beside the hub's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    /// Check for updates by itself.
    #[serde(default = "yes")]
    check_updates: bool,
}

fn yes() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            check_updates: true,
        }
    }
}

/// The app's update state and the update the user may install.
pub struct Updates {
    source: Source,
    settings_file: Option<PathBuf>,
    state: Mutex<UpdateState>,
    pending: Mutex<Option<Update>>,
}

impl Updates {
    /// The state at start, read from the app's configuration and environment.
    pub fn new(app: &AppHandle) -> Self {
        let config = app.config().plugins.0.get("updater");
        let text = |key: &str| {
            config
                .and_then(|c| c.get(key))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let endpoints = config
            .and_then(|c| c.get("endpoints"))
            .and_then(|e| e.as_array())
            .map_or(0, Vec::len);
        let env_url = std::env::var(URL_ENV).ok();
        let source = source(
            &text("pubkey"),
            endpoints,
            env_url.as_deref(),
            debug_pubkey().as_deref(),
        );
        let settings_file = patchbay_core::paths::Paths::from_env()
            .ok()
            .map(|p| p.app_settings());
        let settings = settings_file
            .as_deref()
            .map(read_settings)
            .unwrap_or_default();
        let state = UpdateState {
            current: app.package_info().version.to_string(),
            off: match &source {
                Source::Off(why) => Some(why.clone()),
                Source::Manifest(_) => None,
            },
            automatic: settings.check_updates,
            phase: Phase::Idle,
        };
        Self {
            source,
            settings_file,
            state: Mutex::new(state),
            pending: Mutex::new(None),
        }
    }

    /// The state now.
    pub async fn state(&self) -> UpdateState {
        self.state.lock().await.clone()
    }

    /// The version waiting for the user's yes, for the tray.
    pub async fn available(&self) -> Option<String> {
        match &self.state.lock().await.phase {
            Phase::Available { version, .. } => Some(version.clone()),
            _ => None,
        }
    }
}

/// The updater plugin, with the debug build's key from the environment when set.
pub fn plugin() -> tauri::plugin::TauriPlugin<tauri::Wry, tauri_plugin_updater::Config> {
    let mut builder = tauri_plugin_updater::Builder::new();
    if let Some(key) = debug_pubkey() {
        builder = builder.pubkey(key);
    }
    builder.build()
}

/// The public key a debug build takes from the environment; never in a release build.
pub fn debug_pubkey() -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var(PUBKEY_ENV)
            .ok()
            .filter(|k| !k.trim().is_empty())
    } else {
        None
    }
}

fn read_settings(path: &std::path::Path) -> Settings {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            tracing::warn!("{}: {err}; the defaults are used", path.display());
            Settings::default()
        }),
        Err(_) => Settings::default(),
    }
}

/// Set the new phase and tell the window, and the tray when the phase is another kind (not
/// at each step of a download: the tray reads the hub to rebuild its menu).
async fn set_phase(app: &AppHandle, phase: Phase) -> UpdateState {
    let updates = app.state::<Updates>();
    let (state, other_kind) = {
        let mut state = updates.state.lock().await;
        let other_kind = std::mem::discriminant(&state.phase) != std::mem::discriminant(&phase);
        state.phase = phase;
        (state.clone(), other_kind)
    };
    announce(app, &state, other_kind).await;
    state
}

async fn announce(app: &AppHandle, state: &UpdateState, tray: bool) {
    if let Err(err) = app.emit(UPDATE_EVENT, state) {
        tracing::warn!("cannot send the update state: {err}");
    }
    if tray {
        crate::tray::refresh(app).await;
    }
}

/// Check for a newer version: the state it leaves. Errors are kept in the state
/// ([`Phase::Failed`]); updates off in this build are an error.
pub async fn check(app: &AppHandle) -> Result<UpdateState, AppError> {
    let updates = app.state::<Updates>();
    let endpoint = match &updates.source {
        Source::Off(why) => return Err(AppError::shell(format!("updates are off: {why}"))),
        Source::Manifest(endpoint) => endpoint.clone(),
    };
    set_phase(app, Phase::Checking).await;
    let found = async {
        let mut builder = app.updater_builder();
        if let Some(url) = endpoint {
            builder = builder.endpoints(vec![url])?;
        }
        builder.build()?.check().await
    }
    .await;
    let phase = match found {
        Ok(Some(update)) => {
            let phase = Phase::Available {
                version: update.version.clone(),
                notes: update.body.clone(),
                date: update.date.map(|d| d.to_string()),
            };
            *updates.pending.lock().await = Some(update);
            phase
        }
        Ok(None) => Phase::UpToDate,
        Err(err) => Phase::Failed {
            message: format!("cannot check for updates: {err}"),
        },
    };
    Ok(set_phase(app, phase).await)
}

/// Download, check and install the update the last check found: the user said yes. Progress
/// is sent as [`Phase::Downloading`]; the app runs the new version once restarted
/// ([`restart`]). On Windows the installer takes over and the app exits.
pub async fn install(app: &AppHandle) -> Result<UpdateState, AppError> {
    let updates = app.state::<Updates>();
    let Some(update) = updates.pending.lock().await.take() else {
        return Err(AppError::shell(
            "no update is waiting: check for updates first",
        ));
    };
    let version = update.version.clone();
    set_phase(
        app,
        Phase::Downloading {
            version: version.clone(),
            downloaded: 0,
            total: None,
        },
    )
    .await;
    let (progress, mut heard) = tokio::sync::mpsc::unbounded_channel::<(u64, Option<u64>)>();
    let reporter = {
        let app = app.clone();
        let version = version.clone();
        tauri::async_runtime::spawn(async move {
            while let Some((downloaded, total)) = heard.recv().await {
                let phase = Phase::Downloading {
                    version: version.clone(),
                    downloaded,
                    total,
                };
                set_phase(&app, phase).await;
            }
        })
    };
    let mut downloaded = 0u64;
    let mut last_sent = 0u64;
    let done = update
        .download_and_install(
            |chunk, total| {
                downloaded += chunk as u64;
                // A step per 256 KiB or the end: not an event per network read.
                if downloaded - last_sent >= 256 * 1024 || Some(downloaded) == total {
                    last_sent = downloaded;
                    let _ = progress.send((downloaded, total));
                }
            },
            || {},
        )
        .await;
    drop(progress);
    let _ = reporter.await;
    let phase = match done {
        Ok(()) => Phase::Installed { version },
        Err(err) => Phase::Failed {
            message: format!("the update to {version} was not installed: {err}"),
        },
    };
    Ok(set_phase(app, phase).await)
}

/// Restart into the installed version.
pub fn restart(app: &AppHandle) -> ! {
    app.restart()
}

/// Turn the automatic checks on or off; kept for the next start.
pub async fn set_automatic(app: &AppHandle, on: bool) -> Result<UpdateState, AppError> {
    let updates = app.state::<Updates>();
    let Some(file) = &updates.settings_file else {
        return Err(AppError::shell("no home directory to keep the setting in"));
    };
    let bytes =
        serde_json::to_vec_pretty(&Settings { check_updates: on }).map_err(AppError::shell)?;
    patchbay_core::files::write_atomically_in_new_dir(file, &bytes).map_err(|err| {
        AppError::shell(format!(
            "cannot save the setting in {}: {err}",
            file.display()
        ))
    })?;
    let state = {
        let mut state = updates.state.lock().await;
        state.automatic = on;
        state.clone()
    };
    announce(app, &state, false).await;
    Ok(state)
}

/// The automatic checks: a minute after start, then daily, while the setting is on; a found
/// update raises a notification.
pub fn spawn(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut wait = FIRST_CHECK;
        loop {
            tokio::time::sleep(wait).await;
            wait = CHECK_EVERY;
            let updates = app.state::<Updates>();
            let state = updates.state().await;
            let busy = matches!(
                state.phase,
                Phase::Checking | Phase::Downloading { .. } | Phase::Installed { .. }
            );
            if state.off.is_some() || !state.automatic || busy {
                continue;
            }
            if let Ok(UpdateState {
                phase: Phase::Available { version, .. },
                ..
            }) = check(&app).await
            {
                crate::events::notify(&app, "Patchbay", &available_notice(&version));
            }
        }
    });
}

/// What a check on request says, as a notification.
pub fn check_notice(state: &UpdateState) -> String {
    match &state.phase {
        Phase::Available { version, .. } => available_notice(version),
        Phase::Failed { message } => message.clone(),
        _ => format!("Patchbay {} is up to date", state.current),
    }
}

/// The notification of an available version.
pub fn available_notice(version: &str) -> String {
    format!("Patchbay {version} is available: open Patchbay to install it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_without_a_key_does_not_update() {
        let off = source("", 1, None, None);
        assert_eq!(
            off,
            Source::Off(
                "this build has no update key (only release builds update themselves)".into()
            )
        );
        assert_eq!(
            source("  ", 1, Some("https://a.example/m.json"), Some(" ")),
            off
        );
        assert_eq!(source("KEY", 1, None, None), Source::Manifest(None));
        assert_eq!(
            source("", 0, Some("http://127.0.0.1:9/latest.json"), Some("KEY")),
            Source::Manifest(Some(Url::parse("http://127.0.0.1:9/latest.json").unwrap()))
        );
    }

    #[test]
    fn a_build_without_a_manifest_does_not_update() {
        assert_eq!(
            source("KEY", 0, None, None),
            Source::Off("this build names no update manifest".into())
        );
        assert_eq!(
            source("KEY", 0, Some(""), None),
            source("KEY", 0, None, None)
        );
    }

    #[test]
    fn the_manifest_url_is_https_or_loopback_http() {
        for good in [
            "https://updates.example.com/latest.json",
            "http://127.0.0.1:8080/latest.json",
            "http://[::1]:8080/latest.json",
            "http://localhost/latest.json",
        ] {
            assert!(manifest_url(good).is_ok(), "{good}");
        }
        assert_eq!(
            manifest_url("http://updates.example.com/latest.json"),
            Err("is plain http to another machine; use https")
        );
        assert_eq!(
            manifest_url("file:///tmp/latest.json"),
            Err("is neither https nor http")
        );
        assert_eq!(manifest_url("latest.json"), Err("is not a URL"));
        assert_eq!(
            source("KEY", 1, Some("http://10.0.0.1/m.json"), None),
            Source::Off(format!(
                "{URL_ENV} `http://10.0.0.1/m.json` is plain http to another machine; use https"
            ))
        );
    }

    #[test]
    fn the_window_reads_each_phase_by_its_tag() {
        let state = UpdateState {
            current: "0.1.0".into(),
            off: None,
            automatic: true,
            phase: Phase::Downloading {
                version: "0.2.0".into(),
                downloaded: 10,
                total: Some(20),
            },
        };
        assert_eq!(
            serde_json::to_value(&state).unwrap(),
            serde_json::json!({
                "current": "0.1.0", "off": null, "automatic": true,
                "phase": {"kind": "downloading", "version": "0.2.0", "downloaded": 10, "total": 20}
            })
        );
        let up = serde_json::to_value(Phase::UpToDate).unwrap();
        assert_eq!(up, serde_json::json!({"kind": "up_to_date"}));
    }

    #[test]
    fn a_check_on_request_says_what_it_found() {
        let mut state = UpdateState {
            current: "0.1.0".into(),
            off: None,
            automatic: true,
            phase: Phase::UpToDate,
        };
        assert_eq!(check_notice(&state), "Patchbay 0.1.0 is up to date");
        state.phase = Phase::Available {
            version: "0.2.0".into(),
            notes: None,
            date: None,
        };
        assert_eq!(
            check_notice(&state),
            "Patchbay 0.2.0 is available: open Patchbay to install it"
        );
        state.phase = Phase::Failed {
            message: "cannot check for updates: 404".into(),
        };
        assert_eq!(check_notice(&state), "cannot check for updates: 404");
    }

    #[test]
    fn a_missing_or_broken_settings_file_checks_by_default() {
        let dir = std::env::temp_dir().join(format!("patchbay-updates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.json");
        assert!(read_settings(&file).check_updates);
        std::fs::write(&file, "{not json").unwrap();
        assert!(read_settings(&file).check_updates);
        std::fs::write(&file, r#"{"check_updates": false}"#).unwrap();
        assert!(!read_settings(&file).check_updates);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
