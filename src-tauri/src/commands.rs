//! The window's commands: each one delegates to the hub's control API in one line.
//!
//! These names and arguments are the contract the UI codes against (arguments are camelCase on
//! the JavaScript side). Errors reach the window as `{code, message}` ([`AppError`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use patchbay_core::api::FlowView;
use patchbay_core::api::ServerStatus;
use patchbay_core::api::{
    ClientChange, HubStatus, InstallRequest, RestoreRequest, ServerAdded, ToolEntry,
};
use patchbay_core::config::profile::ProfileStatus;
use patchbay_core::config::{NewServer, StartMode};
use patchbay_core::events::CallRecord;
use patchbay_core::oauth::TokenStatus;
use patchbay_core::oauth::connect::ConnectRequest;
use patchbay_core::oauth::keeper::Revoked;
use serde_json::Value;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::error::AppError;
use crate::hub::HubConnection;

type Answer<T> = Result<T, AppError>;

#[allow(clippy::too_many_arguments)]
fn new_server(
    name: String,
    command: String,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<PathBuf>,
    start: Option<StartMode>,
    enabled: Option<bool>,
) -> NewServer {
    NewServer {
        name,
        command,
        args: args.unwrap_or_default(),
        env: env.unwrap_or_default(),
        secret_env: Vec::new(),
        cwd: cwd.filter(|c| !c.as_os_str().is_empty()),
        start,
        enabled: enabled.unwrap_or(true),
    }
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
#[allow(clippy::too_many_arguments)]
pub async fn preview_server(
    hub: State<'_, HubConnection>,
    name: String,
    command: String,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<PathBuf>,
    start: Option<StartMode>,
    enabled: Option<bool>,
) -> Answer<ServerAdded> {
    let server = new_server(name, command, args, env, cwd, start, enabled);
    hub.call(|c| async move { c.preview_server(&server).await })
        .await
}

#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn add_server(
    hub: State<'_, HubConnection>,
    name: String,
    command: String,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<PathBuf>,
    start: Option<StartMode>,
    enabled: Option<bool>,
) -> Answer<ServerAdded> {
    let server = new_server(name, command, args, env, cwd, start, enabled);
    hub.call(|c| async move { c.add_server(&server).await })
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

#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn start_connect(
    hub: State<'_, HubConnection>,
    url: String,
    name: Option<String>,
    disabled: Option<bool>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_metadata_url: Option<String>,
    scopes: Option<Vec<String>>,
    header_name: Option<String>,
    header_value: Option<String>,
) -> Answer<String> {
    let request = ConnectRequest {
        url: Some(url),
        name: name.filter(|n| !n.is_empty()),
        login: false,
        disabled: disabled.unwrap_or(false),
        client_id,
        client_secret,
        client_metadata_url,
        scopes: scopes.unwrap_or_default(),
        header_name,
        header_value,
    };
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
    profile: Option<String>,
    direct: Option<bool>,
) -> Answer<ClientChange> {
    let request = InstallRequest {
        profile,
        direct: direct.unwrap_or(false),
    };
    hub.call(|c| async move { c.install_client(&id, &request).await })
        .await
}

#[tauri::command]
pub async fn uninstall_client(hub: State<'_, HubConnection>, id: String) -> Answer<ClientChange> {
    hub.call(|c| async move { c.uninstall_client(&id).await })
        .await
}

#[tauri::command]
pub async fn restore_client(hub: State<'_, HubConnection>, id: String) -> Answer<ClientChange> {
    hub.call(|c| async move { c.restore_client(&id, &RestoreRequest::default()).await })
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

/// A sign-in again to a configured remote server (`patchbay login NAME`).
pub fn login_request(name: String) -> ConnectRequest {
    ConnectRequest {
        name: Some(name),
        login: true,
        ..ConnectRequest::default()
    }
}
