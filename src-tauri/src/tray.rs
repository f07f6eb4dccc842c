//! The tray icon and its menu, rebuilt from the hub's state whenever an event says it changed.
//!
//! Menu ids say what an item does: `refresh:NAME`, `revoke:NAME`, `signin:NAME` (a remote
//! server's tokens), `install:CLIENT`, `open`, `autostart`, `quit`, `quit-hub`; a server's
//! line (`server:NAME`) is information only.

use patchbay_core::oauth::{TokenState, TokenStatus};
use patchbay_core::supervisor::ServerStatus;
use tauri::image::Image;
use tauri::menu::{
    CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu,
};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt;

use crate::error::AppError;
use crate::hub::HubLink;

const TRAY: &str = "patchbay";

/// Put the icon in the tray with a first menu (filled in once the hub answers).
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let icon = Image::from_bytes(include_bytes!("../../resources/icons/128x128.png"))?;
    let menu = build(app, None)?;
    TrayIconBuilder::with_id(TRAY)
        .icon(icon)
        .tooltip("Patchbay")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    Ok(())
}

/// Read the hub's state and rebuild the menu from it.
pub async fn refresh(app: &AppHandle) {
    let link = app.state::<HubLink>();
    let servers = link.call(|c| async move { c.servers().await }).await;
    let tokens = link.call(|c| async move { c.tokens().await }).await;
    let state = match (servers, tokens) {
        (Ok(servers), Ok(tokens)) => Some((servers, tokens)),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!("tray: {err}");
            None
        }
    };
    let Some(tray) = app.tray_by_id(TRAY) else {
        return;
    };
    match build(app, state.as_ref()) {
        Ok(menu) => {
            if let Err(err) = tray.set_menu(Some(menu)) {
                tracing::warn!("tray: cannot set the menu: {err}");
            }
        }
        Err(err) => tracing::warn!("tray: cannot build the menu: {err}"),
    }
}

/// The menu for this state of the hub (`None`: not reachable yet).
fn build(
    app: &AppHandle,
    state: Option<&(Vec<ServerStatus>, Vec<TokenStatus>)>,
) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    match state {
        None => menu.append(&MenuItem::with_id(
            app,
            "hub",
            "Connecting to the hub…",
            false,
            None::<&str>,
        )?)?,
        Some((servers, _)) if servers.is_empty() => menu.append(&MenuItem::with_id(
            app,
            "hub",
            "No servers yet",
            false,
            None::<&str>,
        )?)?,
        Some((servers, tokens)) => {
            for server in servers {
                let token = tokens.iter().find(|t| t.server == server.name);
                match token {
                    Some(token) => menu.append(&remote_submenu(app, server, token)?)?,
                    None => menu.append(&MenuItem::with_id(
                        app,
                        format!("server:{}", server.name),
                        server_line(server),
                        false,
                        None::<&str>,
                    )?)?,
                }
            }
        }
    }
    let autostart = app.autolaunch().is_enabled().unwrap_or(false);
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
            autostart,
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
    let tools = match server.tools {
        1 => "1 tool".to_owned(),
        n => format!("{n} tools"),
    };
    format!("{}: {} ({tools})", server.name, server.state.as_str())
}

fn remote_submenu(
    app: &AppHandle,
    server: &ServerStatus,
    token: &TokenStatus,
) -> tauri::Result<Submenu<tauri::Wry>> {
    let name = &server.name;
    let expiry = MenuItem::with_id(
        app,
        format!("expiry:{name}"),
        token_line(token),
        false,
        None::<&str>,
    )?;
    let refresh = MenuItem::with_id(
        app,
        format!("refresh:{name}"),
        "Refresh token",
        true,
        None::<&str>,
    )?;
    let revoke = MenuItem::with_id(
        app,
        format!("revoke:{name}"),
        "Revoke token",
        true,
        None::<&str>,
    )?;
    let signin = MenuItem::with_id(
        app,
        format!("signin:{name}"),
        "Sign in again",
        true,
        None::<&str>,
    )?;
    Submenu::with_id_and_items(
        app,
        format!("server:{name}"),
        server_line(server),
        true,
        &[&expiry, &refresh, &revoke, &signin],
    )
}

/// `token: valid, expires in 54 min`.
fn token_line(token: &TokenStatus) -> String {
    let state = serde_json::to_value(token.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match token.expires_in {
        Some(secs) if token.state != TokenState::NeedsSignIn => {
            format!("token: {state}, expires in {}", countdown(secs))
        }
        _ => format!("token: {state}"),
    }
}

fn countdown(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
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
        let link = app.state::<HubLink>();
        let done = match id.split_once(':') {
            Some(("refresh", name)) => link
                .call(|c| async move { c.refresh_token(name).await })
                .await
                .map(drop),
            Some(("revoke", name)) => link
                .call(|c| async move { c.revoke_token(name).await })
                .await
                .map(drop),
            Some(("signin", name)) => {
                let request = crate::commands::login_request(name.to_owned());
                link.call(|c| async move { c.start_sign_in(&request).await })
                    .await
                    .map(drop)
            }
            Some(("install", client)) => link
                .call(|c| async move { c.install_client(client, &Default::default()).await })
                .await
                .map(drop),
            _ if id == "quit-hub" => {
                let stopped = link.call(|c| async move { c.shutdown().await }).await;
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

/// Turn start-at-login on or off; the tray's check mark follows on the next rebuild.
pub fn set_autostart(app: &AppHandle, enabled: bool) -> Result<bool, AppError> {
    let autolaunch = app.autolaunch();
    if enabled {
        autolaunch.enable().map_err(AppError::shell)?;
    } else {
        autolaunch.disable().map_err(AppError::shell)?;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move { refresh(&app).await });
    autolaunch.is_enabled().map_err(AppError::shell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_naturally() {
        assert_eq!(countdown(42), "42 s");
        assert_eq!(countdown(54 * 60 + 10), "54 min");
        assert_eq!(countdown(5 * 3600), "5 h");
        assert_eq!(countdown(3 * 86_400), "3 days");
    }
}
