//! The app's configuration is `tauri.conf.json` at the repository root (DESIGN.md "The parts");
//! the window may call only the commands listed here, as granted in `capabilities/`.

const COMMANDS: &[&str] = &[
    "hub_status",
    "list_servers",
    "preview_server",
    "add_server",
    "search_catalog",
    "preview_catalog",
    "add_from_catalog",
    "preview_link",
    "take_opened",
    "preview_bundle",
    "pick_bundle",
    "remove_server",
    "set_server_enabled",
    "server_logs",
    "server_tools",
    "tool_changes",
    "accept_tool_changes",
    "start_connect",
    "sign_in_flow",
    "cancel_sign_in",
    "list_clients",
    "list_profiles",
    "install_client",
    "uninstall_client",
    "restore_client",
    "list_tokens",
    "refresh_token",
    "revoke_token",
    "sign_in_again",
    "recent_calls",
    "get_autostart",
    "set_autostart",
    "app_update_state",
    "check_app_update",
    "install_app_update",
    "restart_app",
    "set_update_checks",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .config_path("../tauri.conf.json")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step");
}
