//! The tray icon and its menu, rebuilt from the hub's state whenever an event says it changed.
//!
//! Menu ids say what an item does: `refresh:NAME`, `revoke:NAME`, `signin:NAME` (a remote
//! server's tokens), `install:CLIENT`, `review` (tools held back for a change: the window's
//! Servers page), `check-updates` (the app's own updates), `app-update` (a newer version of the
//! app: the window, where it is installed after a yes), `open`, `autostart`, `quit`,
//! `quit-hub`; a server's line (`server:NAME`) is information only.
//!
//! The menu is replaced only when what it shows changes ([`Shown`]): a replaced menu has new
//! items, and a click on an item of the old one (a menu left open, a shell that read it a moment
//! before) is lost. Refreshes run one at a time, each reading the hub afresh, so the last one
//! shows the hub's latest state.

use patchbay_core::api::ServerStatus;
use patchbay_core::oauth::{TokenActions, TokenState, TokenStatus};
use tauri::image::Image;
use tauri::menu::{
    CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu,
};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt;
use tokio::sync::Mutex;

use crate::error::AppError;
use crate::hub::HubConnection;
use crate::updates::Updates;

const TRAY: &str = "patchbay";

/// What the menu shows now (`None` before the first menu built from the hub's state).
#[derive(Default)]
struct MenuState(Mutex<Option<Shown>>);

/// What the menu shows, as data: two equal values make the same menu.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    /// A placeholder line (the hub is not reachable, or has no servers) or one entry per server.
    servers: Result<Vec<Entry>, &'static str>,
    /// Some server has tools held back for a change: "Review tool changes…" shows.
    review: bool,
    autostart: bool,
    /// A newer version of the app the last check found.
    app_update: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `NAME: STATE (N tools)`, information only.
    Line { name: String, line: String },
    /// A remote server: its line opens its token's submenu.
    Remote {
        name: String,
        line: String,
        token: String,
        actions: TokenActions,
    },
}

impl Shown {
    fn new(state: Option<&(Vec<ServerStatus>, Vec<TokenStatus>)>, autostart: bool) -> Self {
        let servers = match state {
            None => Err("Connecting to the hub…"),
            Some((servers, _)) if servers.is_empty() => Err("No servers yet"),
            Some((servers, tokens)) => Ok(servers
                .iter()
                .map(|server| {
                    let name = server.name.clone();
                    let line = server_line(server);
                    match tokens.iter().find(|t| t.server == server.name) {
                        Some(token) => Entry::Remote {
                            name,
                            line,
                            token: token_line(token),
                            actions: token.actions,
                        },
                        None => Entry::Line { name, line },
                    }
                })
                .collect()),
        };
        let review = state.is_some_and(|(servers, _)| servers.iter().any(|s| s.tools_held > 0));
        Self {
            servers,
            review,
            autostart,
            app_update: None,
        }
    }
}

/// Put the icon in the tray with a first menu (filled in once the hub answers).
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let icon = Image::from_bytes(include_bytes!("../../resources/icons/128x128.png"))?;
    let menu = build(app, &Shown::new(None, autostart(app)))?;
    app.manage(MenuState::default());
    TrayIconBuilder::with_id(TRAY)
        .icon(icon)
        .tooltip("Patchbay")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    Ok(())
}

/// Read the hub's state and rebuild the menu from it, when what it shows changed.
pub async fn refresh(app: &AppHandle) {
    update(app, false).await;
}

/// As [`refresh`], and rebuild the menu even when it shows the same (a check item that toggled
/// itself on the click must show the state again).
async fn update(app: &AppHandle, always: bool) {
    let menu_state = app.state::<MenuState>();
    let mut last = menu_state.0.lock().await;
    let hub = app.state::<HubConnection>();
    let servers = hub.call(|c| async move { c.servers().await }).await;
    let tokens = hub.call(|c| async move { c.tokens().await }).await;
    let state = match (servers, tokens) {
        (Ok(servers), Ok(tokens)) => Some((servers, tokens)),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!("tray: {err}");
            None
        }
    };
    let mut shown = Shown::new(state.as_ref(), autostart(app));
    shown.app_update = app.state::<Updates>().available().await;
    if !always && last.as_ref() == Some(&shown) {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY) else {
        return;
    };
    match build(app, &shown) {
        Ok(menu) => match tray.set_menu(Some(menu)) {
            Ok(()) => *last = Some(shown),
            Err(err) => tracing::warn!("tray: cannot set the menu: {err}"),
        },
        Err(err) => tracing::warn!("tray: cannot build the menu: {err}"),
    }
}

fn autostart(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}

/// The menu that shows `shown`.
fn build(app: &AppHandle, shown: &Shown) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    match &shown.servers {
        Err(placeholder) => menu.append(&MenuItem::with_id(
            app,
            "hub",
            *placeholder,
            false,
            None::<&str>,
        )?)?,
        Ok(entries) => {
            for entry in entries {
                match entry {
                    Entry::Line { name, line } => menu.append(&MenuItem::with_id(
                        app,
                        format!("server:{name}"),
                        line,
                        false,
                        None::<&str>,
                    )?)?,
                    Entry::Remote {
                        name,
                        line,
                        token,
                        actions,
                    } => menu.append(&remote_submenu(app, name, line, token, *actions)?)?,
                }
            }
        }
    }
    if shown.review {
        menu.append(&MenuItem::with_id(
            app,
            "review",
            "Review tool changes…",
            true,
            None::<&str>,
        )?)?;
    }
    if let Some(version) = &shown.app_update {
        menu.append(&MenuItem::with_id(
            app,
            "app-update",
            format!("Update Patchbay to {version}…"),
            true,
            None::<&str>,
        )?)?;
    }
    let items: Vec<Box<dyn IsMenuItem<tauri::Wry>>> = vec![
        Box::new(PredefinedMenuItem::separator(app)?),
        Box::new(MenuItem::with_id(
            app,
            "install:claude-desktop",
            "Install into Claude Desktop",
            true,
            None::<&str>,
        )?),
        Box::new(MenuItem::with_id(
            app,
            "install:cursor",
            "Install into Cursor",
            true,
            None::<&str>,
        )?),
        Box::new(PredefinedMenuItem::separator(app)?),
        Box::new(MenuItem::with_id(
            app,
            "open",
            "Open Patchbay",
            true,
            None::<&str>,
        )?),
        Box::new(CheckMenuItem::with_id(
            app,
            "autostart",
            "Start at login",
            true,
            shown.autostart,
            None::<&str>,
        )?),
        Box::new(MenuItem::with_id(
            app,
            "check-updates",
            "Check for updates…",
            true,
            None::<&str>,
        )?),
        Box::new(PredefinedMenuItem::separator(app)?),
        Box::new(MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?),
        Box::new(MenuItem::with_id(
            app,
            "quit-hub",
            "Quit Patchbay and stop the hub",
            true,
            None::<&str>,
        )?),
    ];
    for item in &items {
        menu.append(item.as_ref())?;
    }
    Ok(menu)
}

fn server_line(server: &ServerStatus) -> String {
    if !server.enabled {
        return format!("{}: disabled", server.name);
    }
    let tools = match server.tools {
        1 => "1 tool".to_owned(),
        n => format!("{n} tools"),
    };
    let held = match server.tools_held {
        0 => String::new(),
        n => format!(", {n} changed: review in the window"),
    };
    let update = match &server.update {
        Some(version) => format!(", {version} in the registry"),
        None => String::new(),
    };
    format!(
        "{}: {} ({tools}{held}{update})",
        server.name,
        server.state.as_str()
    )
}

fn remote_submenu(
    app: &AppHandle,
    name: &str,
    line: &str,
    token: &str,
    actions: TokenActions,
) -> tauri::Result<Submenu<tauri::Wry>> {
    let expiry = MenuItem::with_id(app, format!("expiry:{name}"), token, false, None::<&str>)?;
    let refresh = MenuItem::with_id(
        app,
        format!("refresh:{name}"),
        "Refresh token",
        actions.refresh,
        None::<&str>,
    )?;
    let revoke = MenuItem::with_id(
        app,
        format!("revoke:{name}"),
        "Revoke token",
        actions.revoke,
        None::<&str>,
    )?;
    let signin = MenuItem::with_id(
        app,
        format!("signin:{name}"),
        "Sign in again",
        actions.sign_in,
        None::<&str>,
    )?;
    Submenu::with_id_and_items(
        app,
        format!("server:{name}"),
        line,
        true,
        &[&expiry, &refresh, &revoke, &signin],
    )
}

/// `token: valid, expires in 54m 10s`.
fn token_line(token: &TokenStatus) -> String {
    let state = serde_json::to_value(token.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match token.expires_in {
        Some(secs) if token.state != TokenState::NeedsSignIn => {
            format!(
                "token: {state}, expires in {}",
                patchbay_core::human::span(secs)
            )
        }
        _ => format!("token: {state}"),
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let id = event.id().as_ref().to_owned();
    let app = app.clone();
    if id == "open" {
        if let Err(err) = crate::window::open(&app) {
            tracing::warn!("cannot open the window: {err}");
        }
        return;
    }
    if id == "review" {
        if let Err(err) = crate::window::open_servers(&app) {
            tracing::warn!("cannot open the window: {err}");
        }
        return;
    }
    if id == "app-update" {
        if let Err(err) = crate::window::open(&app) {
            tracing::warn!("cannot open the window: {err}");
        }
        return;
    }
    if id == "check-updates" {
        tauri::async_runtime::spawn(async move {
            let notice = match crate::updates::check(&app).await {
                Ok(state) => crate::updates::check_notice(&state),
                Err(err) => err.message,
            };
            crate::events::notify(&app, "Patchbay", &notice);
        });
        return;
    }
    if id == "quit" {
        app.exit(0);
        return;
    }
    if id == "autostart" {
        let enabled = !app.autolaunch().is_enabled().unwrap_or(false);
        if let Err(err) = set_autostart(&app, enabled) {
            tracing::warn!("{err}");
        }
        return;
    }
    tauri::async_runtime::spawn(async move {
        let hub = app.state::<HubConnection>();
        let done = match id.split_once(':') {
            Some(("refresh", name)) => hub
                .call(|c| async move { c.refresh_token(name).await })
                .await
                .map(drop),
            Some(("revoke", name)) => hub
                .call(|c| async move { c.revoke_token(name).await })
                .await
                .map(drop),
            Some(("signin", name)) => {
                let request = crate::commands::login_request(name.to_owned());
                hub.call(|c| async move { c.start_sign_in(&request).await })
                    .await
                    .map(drop)
            }
            Some(("install", client)) => hub
                .call(|c| async move { c.install_client(client, &Default::default()).await })
                .await
                .map(drop),
            _ if id == "quit-hub" => {
                let stopped = hub.call(|c| async move { c.shutdown().await }).await;
                app.exit(0);
                stopped.map(drop)
            }
            _ => Ok(()),
        };
        if let Err(err) = done {
            tracing::warn!("tray `{id}`: {err}");
            crate::events::notify(&app, "Patchbay", &err.message);
        }
        refresh(&app).await;
    });
}

/// Turn start-at-login on or off; the tray's check mark then shows the state again, whatever
/// happened (its click toggled it already).
pub fn set_autostart(app: &AppHandle, enabled: bool) -> Result<bool, AppError> {
    let autolaunch = app.autolaunch();
    let done = if enabled {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    let handle = app.clone();
    tauri::async_runtime::spawn(async move { update(&handle, true).await });
    done.map_err(AppError::shell)?;
    autolaunch.is_enabled().map_err(AppError::shell)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(state: TokenState, expires_in: Option<u64>) -> TokenStatus {
        TokenStatus {
            server: "linear".into(),
            url: "https://mcp.linear.app/mcp".into(),
            state,
            issuer: None,
            client_id: None,
            scopes: Vec::new(),
            expires_at: None,
            expires_in,
            refresh_token: true,
            header: None,
            message: None,
            actions: TokenActions::of(state, true),
            grant: None,
        }
    }

    #[test]
    fn a_server_line_says_when_tools_are_held_and_a_newer_version_is_listed() {
        let config = patchbay_core::config::ServerConfig::new("npx", vec!["server".into()]);
        let mut server = ServerStatus::not_running("files", &config, None);
        server.tools = 3;
        assert_eq!(server_line(&server), "files: stopped (3 tools)");
        server.tools_held = 1;
        assert_eq!(
            server_line(&server),
            "files: stopped (3 tools, 1 changed: review in the window)"
        );
        server.update = Some("2.0.0".into());
        assert_eq!(
            server_line(&server),
            "files: stopped (3 tools, 1 changed: review in the window, 2.0.0 in the registry)"
        );
    }

    #[test]
    fn the_review_item_shows_while_a_server_holds_tools_back() {
        let config = patchbay_core::config::ServerConfig::new("npx", vec!["server".into()]);
        let calm = ServerStatus::not_running("calm", &config, None);
        let mut shifty = ServerStatus::not_running("shifty", &config, None);
        assert!(
            !Shown::new(
                Some(&(vec![calm.clone(), shifty.clone()], Vec::new())),
                false
            )
            .review,
            "nothing held: no review item"
        );
        shifty.tools_held = 2;
        assert!(
            Shown::new(Some(&(vec![calm, shifty], Vec::new())), false).review,
            "a server holds tools back: the review item shows"
        );
        assert!(
            !Shown::new(None, false).review,
            "the hub unread: nothing to review"
        );
    }

    #[test]
    fn a_token_line_says_its_state_and_when_it_expires() {
        assert_eq!(
            token_line(&token(TokenState::Valid, Some(54 * 60 + 10))),
            "token: valid, expires in 54m 10s"
        );
        assert_eq!(
            token_line(&token(TokenState::NeedsSignIn, Some(30))),
            "token: needs_sign_in",
            "no expiry for tokens that need a new sign-in"
        );
        assert_eq!(token_line(&token(TokenState::Valid, None)), "token: valid");
    }
}
