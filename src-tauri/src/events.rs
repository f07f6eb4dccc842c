//! The hub's event stream, read as the core's [`HubEvent`]s and carried to the window
//! (`hub-event`, the event's JSON as the hub sent it) and to the tray (rebuilt on every change
//! that shows there); a token that needs a new sign-in raises a desktop notification.
//!
//! When the stream ends (the hub stopped or was restarted) it is opened again, finding or
//! starting the hub, with a growing pause between tries (1 s to 30 s); each time it opens, the
//! window gets [`HubEvent::Lagged`] (`{"kind": "lagged"}`) and reads every list again. An event
//! of a kind this build does not know ([`HubEvent::Unknown`], a newer hub's) goes nowhere.

use std::time::Duration;

use futures::StreamExt;
use patchbay_core::events::HubEvent;
use patchbay_core::oauth::TokenState;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;

use crate::hub::HubConnection;

/// The Tauri event the window listens to.
pub const HUB_EVENT: &str = "hub-event";

/// Follow the hub's events for as long as the app runs.
pub fn spawn(app: AppHandle) {
    let ticker = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            let hub = app.state::<HubConnection>();
            match hub.call(|c| async move { c.events().await }).await {
                Ok(stream) => {
                    pause = Duration::from_secs(1);
                    // Events may have been missed while the stream was down (or before the
                    // window listened): `lagged` makes the window read every list again.
                    forward(&app, &HubEvent::Lagged);
                    crate::tray::refresh(&app).await;
                    let mut stream = std::pin::pin!(stream);
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(event) => on_event(&app, event).await,
                            Err(err) => {
                                tracing::info!("event stream ended: {err}");
                                break;
                            }
                        }
                    }
                    hub.forget().await;
                }
                Err(err) => tracing::warn!("no event stream: {}", err.message),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    });
    // Expiry countdowns in the tray move on even when nothing else happens.
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            crate::tray::refresh(&ticker).await;
        }
    });
}

async fn on_event(app: &AppHandle, event: HubEvent) {
    if matches!(event, HubEvent::Unknown) {
        tracing::debug!("an event of a kind this build does not know; ignored");
        return;
    }
    forward(app, &event);
    if let Some(body) = sign_in_notice(&event) {
        notify(app, "Patchbay: sign in again", &body);
    }
    if let Some(body) = held_notice(&event) {
        notify(app, "Patchbay: tools changed", &body);
    }
    if changes_menu(&event) {
        crate::tray::refresh(app).await;
    }
}

/// Hand the event to the window, as its JSON.
fn forward(app: &AppHandle, event: &HubEvent) {
    if let Err(err) = app.emit(HUB_EVENT, event) {
        tracing::warn!("cannot forward a hub event to the window: {err}");
    }
}

/// The notification a token that needs a new sign-in raises.
fn sign_in_notice(event: &HubEvent) -> Option<String> {
    let HubEvent::TokenState {
        server,
        state: TokenState::NeedsSignIn,
        message,
    } = event
    else {
        return None;
    };
    let why = message.as_deref().unwrap_or("its sign-in expired");
    Some(format!(
        "`{server}` needs a new sign-in ({why}); use \"Sign in again\" in the tray"
    ))
}

/// The notification tools held back for a change raise.
fn held_notice(event: &HubEvent) -> Option<String> {
    let HubEvent::ToolsHeld { server, tools } = event else {
        return None;
    };
    let what = match tools.as_slice() {
        [one] => format!("tool `{one}`"),
        many => format!("{} tools", many.len()),
    };
    Some(format!(
        "`{server}` changed {what} since you accepted it; it is held back from your clients \
         until you review the change in the window"
    ))
}

/// Whether the tray shows what the event changed: calls and sign-in steps do not show there.
fn changes_menu(event: &HubEvent) -> bool {
    !matches!(
        event,
        HubEvent::ToolCall(_) | HubEvent::SignIn { .. } | HubEvent::Unknown
    )
}

/// A desktop notification; failing to show one is logged, not fatal.
pub fn notify(app: &AppHandle, title: &str, body: &str) {
    if let Err(err) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("cannot show a notification: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(state: TokenState, message: Option<&str>) -> HubEvent {
        HubEvent::TokenState {
            server: "linear".into(),
            state,
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn only_a_token_that_needs_a_sign_in_raises_a_notification() {
        assert_eq!(
            sign_in_notice(&token(TokenState::NeedsSignIn, Some("invalid_grant"))).as_deref(),
            Some("`linear` needs a new sign-in (invalid_grant); use \"Sign in again\" in the tray")
        );
        assert_eq!(
            sign_in_notice(&token(TokenState::NeedsSignIn, None)).as_deref(),
            Some(
                "`linear` needs a new sign-in (its sign-in expired); use \"Sign in again\" in the tray"
            )
        );
        assert_eq!(sign_in_notice(&token(TokenState::Valid, None)), None);
        assert_eq!(sign_in_notice(&HubEvent::CatalogChanged), None);
    }

    #[test]
    fn held_tools_raise_a_notification_naming_them() {
        let held = |tools: &[&str]| HubEvent::ToolsHeld {
            server: "files".into(),
            tools: tools.iter().map(|t| t.to_string()).collect(),
        };
        let one = held_notice(&held(&["read"])).unwrap();
        assert!(
            one.starts_with("`files` changed tool `read` since"),
            "{one}"
        );
        let two = held_notice(&held(&["read", "write"])).unwrap();
        assert!(two.starts_with("`files` changed 2 tools since"), "{two}");
        assert_eq!(held_notice(&HubEvent::CatalogChanged), None);
    }

    #[test]
    fn calls_and_sign_in_steps_leave_the_menu_alone() {
        let call: HubEvent = serde_json::from_value(serde_json::json!({
            "kind": "tool_call", "started_ms": 1, "server": "a", "tool": "echo", "client": null,
            "duration_ms": 2, "outcome": "ok"
        }))
        .unwrap();
        assert!(!changes_menu(&call));
        assert!(!changes_menu(&HubEvent::Unknown));
        assert!(changes_menu(&token(TokenState::Refreshing, None)));
        assert!(changes_menu(&HubEvent::ConfigApplied));
        assert!(changes_menu(&HubEvent::Lagged));
    }
}
