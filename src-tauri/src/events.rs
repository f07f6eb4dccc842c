//! The hub's event stream, carried to the window (`hub-event`, the event's JSON as the hub sent
//! it) and to the tray (rebuilt on every change); a token that needs a new sign-in raises a
//! desktop notification.
//!
//! When the stream ends (the hub stopped or was restarted) it is opened again, finding or
//! starting the hub, with a growing pause between tries (1 s to 30 s); each time it opens, the
//! window gets `{"kind": "lagged"}` and reads every list again.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
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
                    if let Err(err) = app.emit(HUB_EVENT, serde_json::json!({ "kind": "lagged" })) {
                        tracing::warn!("cannot forward a hub event to the window: {err}");
                    }
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

async fn on_event(app: &AppHandle, event: Value) {
    if let Err(err) = app.emit(HUB_EVENT, &event) {
        tracing::warn!("cannot forward a hub event to the window: {err}");
    }
    let kind = event["kind"].as_str().unwrap_or_default();
    if kind == "token_state" && event["state"] == "needs_sign_in" {
        let server = event["server"].as_str().unwrap_or("a server");
        let why = event["message"].as_str().unwrap_or("its sign-in expired");
        notify(
            app,
            "Patchbay: sign in again",
            &format!("`{server}` needs a new sign-in ({why}); use \"Sign in again\" in the tray"),
        );
    }
    // Calls and sign-in steps do not change the menu.
    if !matches!(kind, "tool_call" | "sign_in") {
        crate::tray::refresh(app).await;
    }
}

/// A desktop notification; failing to show one is logged, not fatal.
pub fn notify(app: &AppHandle, title: &str, body: &str) {
    if let Err(err) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("cannot show a notification: {err}");
    }
}
