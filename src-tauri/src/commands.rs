//! The window's commands: each one delegates to the hub's control API in one line.
//!
//! These names and arguments are the contract the UI codes against. A command whose route
//! takes a body takes the core's type for it, as the route does: `server` ([`NewServer`]) or
//! `request` ([`ConnectRequest`], [`InstallRequest`], [`RestoreRequest`], [`CatalogRequest`],
//! [`AcceptToolChanges`]), with the snake_case fields of the TypeScript types generated from
//! them (`ui/src/generated/`); other arguments
//! are camelCase on the JavaScript side. Answers are the core's types too. Errors reach the
//! window as `{code, message}` ([`AppError`]).

use patchbay_core::api::FlowView;
use patchbay_core::api::ServerStatus;
use patchbay_core::api::{
    AcceptToolChanges, BundleRequest, CatalogEntry, CatalogPlan, CatalogRequest, CatalogSearch,
    ClientChange, HubStatus, InstallRequest, RestoreRequest, ServerAdded, ToolChange, ToolEntry,
};
use patchbay_core::config::NewServer;
use patchbay_core::config::profile::ProfileStatus;
use patchbay_core::events::CallRecord;
use patchbay_core::oauth::TokenStatus;
use patchbay_core::oauth::connect::ConnectRequest;
use patchbay_core::oauth::keeper::Revoked;
use serde_json::Value;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::error::AppError;
use crate::hub::HubConnection;
use crate::updates::{UpdateState, Updates};

type Answer<T> = Result<T, AppError>;

/// The add form's server as the hub takes it: an empty working directory is none.
fn tidy_server(mut server: NewServer) -> NewServer {
    server.cwd = server.cwd.filter(|c| !c.as_os_str().is_empty());
    server
}

/// A connect request as the hub takes it: an empty name is none (the hub derives one).
fn tidy_connect(mut request: ConnectRequest) -> ConnectRequest {
    request.name = request.name.filter(|n| !n.trim().is_empty());
    request
}

#[tauri::command]
pub async fn hub_status(hub: State<'_, HubConnection>) -> Answer<HubStatus> {
    hub.call(|c| async move { c.status().await }).await
}

#[tauri::command]
pub async fn list_servers(hub: State<'_, HubConnection>) -> Answer<Vec<ServerStatus>> {
    hub.call(|c| async move { c.servers().await }).await
}

#[tauri::command]
pub async fn preview_server(
    hub: State<'_, HubConnection>,
    server: NewServer,
) -> Answer<ServerAdded> {
    let server = tidy_server(server);
    hub.call(|c| async move { c.preview_server(&server).await })
        .await
}

#[tauri::command]
pub async fn add_server(hub: State<'_, HubConnection>, server: NewServer) -> Answer<ServerAdded> {
    let server = tidy_server(server);
    hub.call(|c| async move { c.add_server(&server).await })
        .await
}

#[tauri::command]
pub async fn search_catalog(hub: State<'_, HubConnection>, query: String) -> Answer<CatalogSearch> {
    hub.call(|c| async move { c.search_catalog(&query).await })
        .await
}

#[tauri::command]
pub async fn preview_catalog(
    hub: State<'_, HubConnection>,
    request: CatalogRequest,
) -> Answer<CatalogPlan> {
    hub.call(|c| async move { c.preview_catalog(&request).await })
        .await
}

/// The catalogue entry an install link adds, read by the hub's parser; nothing saved.
#[tauri::command]
pub async fn preview_link(hub: State<'_, HubConnection>, link: String) -> Answer<CatalogEntry> {
    hub.call(|c| async move { c.preview_link(&link).await })
        .await
}

/// The install link or bundle file the app was opened with and the window has not taken yet.
#[tauri::command]
pub fn take_opened(pending: State<'_, crate::opened::Pending>) -> Option<crate::opened::Opened> {
    pending.take()
}

/// The catalogue entry an `.mcpb` bundle adds (a file's `path`, or a registry record's `name`),
/// read by the hub; nothing unpacked or saved.
#[tauri::command]
pub async fn preview_bundle(
    hub: State<'_, HubConnection>,
    request: BundleRequest,
) -> Answer<CatalogEntry> {
    hub.call(|c| async move { c.preview_bundle(&request).await })
        .await
}

/// An `.mcpb` file picked in the system's file dialog; none when the user cancels it.
#[tauri::command]
pub async fn pick_bundle(app: AppHandle) -> Option<String> {
    use tauri_plugin_dialog::DialogExt;
    let picked = (app.dialog().file())
        .set_title("Add an MCP Bundle")
        .add_filter("MCP Bundle", &["mcpb"])
        .blocking_pick_file()?;
    picked.into_path().ok().map(|p| p.display().to_string())
}

#[tauri::command]
pub async fn add_from_catalog(
    hub: State<'_, HubConnection>,
    request: CatalogRequest,
) -> Answer<CatalogPlan> {
    hub.call(|c| async move { c.add_from_catalog(&request).await })
        .await
}

#[tauri::command]
pub async fn remove_server(hub: State<'_, HubConnection>, name: String) -> Answer<Value> {
    hub.call(|c| async move { c.remove_server(&name).await })
        .await
}

#[tauri::command]
pub async fn set_server_enabled(
    hub: State<'_, HubConnection>,
    name: String,
    enabled: bool,
) -> Answer<Value> {
    hub.call(|c| async move { c.set_server_enabled(&name, enabled).await })
        .await
}

#[tauri::command]
pub async fn server_logs(
    hub: State<'_, HubConnection>,
    name: String,
    lines: Option<usize>,
) -> Answer<Value> {
    hub.call(|c| async move { c.server_logs(&name, lines.unwrap_or(200)).await })
        .await
}

#[tauri::command]
pub async fn server_tools(hub: State<'_, HubConnection>, name: String) -> Answer<Vec<ToolEntry>> {
    hub.call(|c| async move { c.server_tools(&name).await })
        .await
}

/// The tools held back because their server changed them since they were accepted.
#[tauri::command]
pub async fn tool_changes(hub: State<'_, HubConnection>) -> Answer<Vec<ToolChange>> {
    hub.call(|c| async move { c.tool_changes().await }).await
}

/// Serve held tools again as they now are; answers how many were accepted.
#[tauri::command]
pub async fn accept_tool_changes(
    hub: State<'_, HubConnection>,
    request: AcceptToolChanges,
) -> Answer<usize> {
    hub.call(|c| async move { c.accept_tool_changes(&request).await })
        .await
}

/// Start a connect (or, with `login`, a sign-in again) in the hub; answers the flow's id.
#[tauri::command]
pub async fn start_connect(
    hub: State<'_, HubConnection>,
    request: ConnectRequest,
) -> Answer<String> {
    let request = tidy_connect(request);
    hub.call(|c| async move { c.start_sign_in(&request).await })
        .await
}

#[tauri::command]
pub async fn sign_in_flow(hub: State<'_, HubConnection>, flow: String) -> Answer<FlowView> {
    hub.call(|c| async move { c.sign_in_flow(&flow).await })
        .await
}

#[tauri::command]
pub async fn cancel_sign_in(hub: State<'_, HubConnection>, flow: String) -> Answer<Value> {
    hub.call(|c| async move { c.cancel_sign_in(&flow).await })
        .await
}

#[tauri::command]
pub async fn list_clients(hub: State<'_, HubConnection>) -> Answer<Value> {
    hub.call(|c| async move { c.clients().await }).await
}

#[tauri::command]
pub async fn list_profiles(hub: State<'_, HubConnection>) -> Answer<Vec<ProfileStatus>> {
    hub.call(|c| async move { c.profiles().await }).await
}

#[tauri::command]
pub async fn install_client(
    hub: State<'_, HubConnection>,
    id: String,
    request: InstallRequest,
) -> Answer<ClientChange> {
    hub.call(|c| async move { c.install_client(&id, &request).await })
        .await
}

#[tauri::command]
pub async fn uninstall_client(hub: State<'_, HubConnection>, id: String) -> Answer<ClientChange> {
    hub.call(|c| async move { c.uninstall_client(&id).await })
        .await
}

#[tauri::command]
pub async fn restore_client(
    hub: State<'_, HubConnection>,
    id: String,
    request: RestoreRequest,
) -> Answer<ClientChange> {
    hub.call(|c| async move { c.restore_client(&id, &request).await })
        .await
}

#[tauri::command]
pub async fn list_tokens(hub: State<'_, HubConnection>) -> Answer<Vec<TokenStatus>> {
    hub.call(|c| async move { c.tokens().await }).await
}

#[tauri::command]
pub async fn refresh_token(hub: State<'_, HubConnection>, name: String) -> Answer<TokenStatus> {
    hub.call(|c| async move { c.refresh_token(&name).await })
        .await
}

#[tauri::command]
pub async fn revoke_token(hub: State<'_, HubConnection>, name: String) -> Answer<Revoked> {
    hub.call(|c| async move { c.revoke_token(&name).await })
        .await
}

#[tauri::command]
pub async fn sign_in_again(hub: State<'_, HubConnection>, name: String) -> Answer<String> {
    hub.call(|c| async move { c.start_sign_in(&login_request(name)).await })
        .await
}

#[tauri::command]
pub async fn recent_calls(hub: State<'_, HubConnection>) -> Answer<Vec<CallRecord>> {
    hub.call(|c| async move { c.recent_calls().await }).await
}

#[tauri::command]
pub fn get_autostart(app: AppHandle) -> Answer<bool> {
    app.autolaunch().is_enabled().map_err(AppError::shell)
}

#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> Answer<bool> {
    crate::tray::set_autostart(&app, enabled)
}

#[tauri::command]
pub async fn app_update_state(updates: State<'_, Updates>) -> Answer<UpdateState> {
    Ok(updates.state().await)
}

#[tauri::command]
pub async fn check_app_update(app: AppHandle) -> Answer<UpdateState> {
    crate::updates::check(&app).await
}

/// Install the update the last check found: the window's "Install" button, the user's yes.
#[tauri::command]
pub async fn install_app_update(app: AppHandle) -> Answer<UpdateState> {
    crate::updates::install(&app).await
}

#[tauri::command]
pub fn restart_app(app: AppHandle) {
    crate::updates::restart(&app)
}

#[tauri::command]
pub async fn set_update_checks(app: AppHandle, enabled: bool) -> Answer<UpdateState> {
    crate::updates::set_automatic(&app, enabled).await
}

/// A sign-in again to a configured remote server (`patchbay login NAME`).
pub fn login_request(name: String) -> ConnectRequest {
    ConnectRequest {
        name: Some(name),
        login: true,
        ..ConnectRequest::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_windows_requests_read_as_the_cores_types() {
        // What `ui/src/api.ts` sends: only the fields the user filled in.
        let server: NewServer =
            serde_json::from_value(json!({"name": "x", "command": "npx", "args": ["-y", "a b"],
                "env": {"TZ": "UTC"}, "cwd": ""}))
            .unwrap();
        let server = tidy_server(server);
        assert_eq!(server.cwd, None, "an empty working directory is none");
        assert!(server.enabled, "saved enabled unless said otherwise");
        assert_eq!(server.args, ["-y", "a b"]);

        let request: ConnectRequest = serde_json::from_value(
            json!({"url": "https://h/mcp", "name": " ", "client_id": "c", "scopes": ["a"]}),
        )
        .unwrap();
        let request = tidy_connect(request);
        assert_eq!(
            request.name, None,
            "a blank name is none: the hub derives one"
        );
        assert_eq!(request.client_id.as_deref(), Some("c"));
        assert!(!request.login);

        let install: InstallRequest = serde_json::from_value(json!({"direct": true})).unwrap();
        assert!(install.direct);
        assert_eq!(install.profile, None);
        let restore: RestoreRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(restore.backup, None);
    }
}
