//! Patchbay's desktop app: a tray icon and a window over the hub's control API.
//!
//! Wiring only: the hub runs in its own process (`patchbay serve`, found or started by
//! [`hub::HubConnection`]); the commands ([`commands`]) and the tray ([`tray`]) call its control API;
//! its event stream ([`events`]) feeds both. `--tray` starts with no window (start at login
//! uses it); a second start opens the first one's window. An install link (`patchbay://`) or
//! an `.mcpb` bundle file ([`opened`]) opens the window on its consent view, in the running
//! instance when there is one.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod engine;
mod error;
mod events;
mod hub;
mod opened;
mod tray;
mod updates;
mod window;

use tauri::{Manager, RunEvent};
use tauri_plugin_autostart::MacosLauncher;

/// The argument that starts the app with only its tray icon.
const TRAY_ONLY: &str = "--tray";

fn main() {
    let context = tauri::generate_context!("../tauri.conf.json");
    if std::env::args().any(|a| a == "--version" || a == "-V") {
        // The app's version, the one its updates are compared with.
        println!("patchbay-app {}", context.package_info().version);
        return;
    }
    let tuned = engine::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PATCHBAY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let hub = match hub::HubConnection::from_env(tuned) {
        Ok(hub) => hub,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    };
    let tray_only = std::env::args().any(|a| a == TRAY_ONLY);
    let app = tauri::Builder::default()
        // First: with its `deep-link` feature, a second start's link reaches this instance.
        .plugin(tauri_plugin_single_instance::init(|app, args, cwd| {
            opened::second_start(app, &args, &cwd);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![TRAY_ONLY]),
        ))
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(updates::plugin())
        // The "Add bundle…" file picker, from the shell's own command (`pick_bundle`).
        .plugin(tauri_plugin_dialog::init())
        .manage(hub)
        .invoke_handler(tauri::generate_handler![
            commands::hub_status,
            commands::list_servers,
            commands::preview_server,
            commands::add_server,
            commands::search_catalog,
            commands::preview_catalog,
            commands::add_from_catalog,
            commands::preview_link,
            commands::take_opened,
            commands::preview_bundle,
            commands::pick_bundle,
            commands::remove_server,
            commands::set_server_enabled,
            commands::server_logs,
            commands::server_tools,
            commands::tool_changes,
            commands::accept_tool_changes,
            commands::start_connect,
            commands::sign_in_flow,
            commands::cancel_sign_in,
            commands::list_clients,
            commands::list_profiles,
            commands::install_client,
            commands::uninstall_client,
            commands::restore_client,
            commands::list_tokens,
            commands::refresh_token,
            commands::revoke_token,
            commands::sign_in_again,
            commands::recent_calls,
            commands::get_autostart,
            commands::set_autostart,
            commands::app_update_state,
            commands::check_app_update,
            commands::install_app_update,
            commands::restart_app,
            commands::set_update_checks,
        ])
        .setup(move |app| {
            app.manage(updates::Updates::new(app.handle()));
            tray::create(app.handle())?;
            updates::spawn(app.handle().clone());
            events::spawn(app.handle().clone());
            opened::follow(app.handle());
            if !tray_only || opened::waiting(app.handle()) {
                window::open(app.handle())?;
            }
            Ok(())
        })
        .build(context)
        .expect("the app's configuration is built in");
    app.run(|_app, event| match event {
        // Closing the window leaves the tray; only Quit (an explicit exit code) ends the app.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        // A bundle file opened with the app (its file type is the app's).
        #[cfg(target_os = "macos")]
        RunEvent::Opened { urls } => opened::opened_files(_app, &urls),
        _ => {}
    });
}
