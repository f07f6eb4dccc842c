//! State changes the hub announces on its event stream (`/api/v1/events`).
//!
//! One broadcast channel carries them; the control API turns each into an SSE event whose
//! `event:` is the `kind` and whose data is the JSON of the whole value. Later subsystems
//! (OAuth, client configs) add variants here, not a second mechanism.
//!
//! The control client ([`crate::control::Client::events`]) reads them back into [`HubEvent`]:
//! a reader that fell behind gets [`HubEvent::Lagged`], and a kind this build does not know (a
//! newer hub's) becomes [`HubEvent::Unknown`] rather than an error.

use serde::{Deserialize, Serialize};

/// One announced change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HubEvent {
    /// A server moved to a new state (see [`crate::api::ServerState`]).
    ServerState {
        /// Server name.
        server: String,
        /// The new state, as `patchbay status` shows it ([`crate::api::ServerState::as_str`]).
        state: String,
        /// The last error, when the state is a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The merged tool/prompt/resource lists changed.
    CatalogChanged,
    /// The config file was applied.
    ConfigApplied,
    /// The config file did not parse or validate; the last good config keeps running.
    ConfigError {
        /// `file:line:column: message`.
        message: String,
    },
    /// A tool call finished (no arguments or results: they may hold secrets).
    ToolCall(CallRecord),
    /// Patchbay's entry in an installed client's config changed state (the client dropped or
    /// rewrote it); `patchbay install CLIENT` repairs it.
    ClientDrift {
        /// Client id (`claude-desktop`).
        client: String,
        /// The client's config file.
        path: String,
        /// `missing`, `changed`, or `intact` once repaired.
        entry: String,
    },
    /// A sign-in flow moved on (see [`crate::oauth::Stage`]).
    SignIn {
        /// The flow's id, as `POST /api/v1/sign-in` returned it.
        flow: String,
        /// The server signing in.
        server: String,
        /// Where it is and what it says.
        #[serde(flatten)]
        progress: crate::oauth::Progress,
    },
    /// A remote server's tokens changed state (see [`crate::oauth::TokenState`]);
    /// `needs_sign_in` is what the tray and notifications act on.
    TokenState {
        /// The server.
        server: String,
        /// `valid`, `expiring`, `refreshing`, `needs_sign_in`, `revoked`, `none`, `header`.
        state: crate::oauth::TokenState,
        /// Why, for `needs_sign_in`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A server changed the definitions of tools already accepted: they are held back from
    /// clients until the user accepts the change (`GET /api/v1/tool-changes`).
    ToolsHeld {
        /// The server.
        server: String,
        /// The tools newly held, by their names on that server.
        tools: Vec<String>,
    },
    /// The reader fell behind and missed events (the control API's SSE `lagged`), or its stream
    /// was opened again: whatever it shows is to be read again.
    Lagged,
    /// An event of a kind this build does not know (a newer hub's): nothing to act on. Never
    /// sent; it exists so that reading a newer hub's stream does not fail.
    #[serde(other)]
    #[cfg_attr(feature = "ts", ts(skip))]
    Unknown,
}

/// One entry of the call log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CallRecord {
    /// Unix time of the call's start, in milliseconds.
    pub started_ms: u64,
    /// The server that ran it.
    pub server: String,
    /// The tool's name on that server.
    pub tool: String,
    /// The calling client's name from its `initialize`, when known.
    pub client: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// `ok`, `tool_error` (the tool said `isError`), `error` (JSON-RPC error) or `cancelled`.
    pub outcome: String,
}

impl HubEvent {
    /// The SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            HubEvent::ServerState { .. } => "server_state",
            HubEvent::CatalogChanged => "catalog_changed",
            HubEvent::ConfigApplied => "config_applied",
            HubEvent::ConfigError { .. } => "config_error",
            HubEvent::ToolCall(_) => "tool_call",
            HubEvent::ClientDrift { .. } => "client_drift",
            HubEvent::SignIn { .. } => "sign_in",
            HubEvent::TokenState { .. } => "token_state",
            HubEvent::ToolsHeld { .. } => "tools_held",
            HubEvent::Lagged => "lagged",
            HubEvent::Unknown => "unknown",
        }
    }
}

impl crate::oauth::keeper::TokenWatcher for EventSender {
    fn token_state(&self, server: &str, state: crate::oauth::TokenState, message: Option<String>) {
        let _ = self.send(HubEvent::TokenState {
            server: server.to_owned(),
            state,
            message,
        });
    }
}

/// The sending side, cheap to clone.
pub type EventSender = tokio::sync::broadcast::Sender<HubEvent>;

/// A new event channel with room for bursts.
pub fn channel() -> EventSender {
    tokio::sync::broadcast::channel(256).0
}
