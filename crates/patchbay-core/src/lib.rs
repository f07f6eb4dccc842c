//! Patchbay's headless core: everything the hub does, with no GUI dependency, so the CLI, the
//! desktop shell and the tests all drive the same code.
//!
//! The map, from the ground up. A module imports only modules on its own level or below it;
//! no two top-level modules import each other, directly or around a loop.
//!
//! - **Leaves** (import nothing of the crate): [`platform`] (the OSes, as data), [`exec`]
//!   (finding a command the way the OS does), [`names`] (server and variable names, the
//!   namespaced names clients see), [`human`] (errors and spans as people read them),
//!   [`files`] (atomic writes, edit locks), [`sse`] (the one event-stream reader), [`body`]
//!   (the one bounded reader of HTTP answers), [`secret`] (the hub's bearer secret, private
//!   files), [`logs`].
//! - **Foundations**: [`paths`] (where files live), [`config`] (the user's TOML and its
//!   profiles), [`vault`] (secrets in the OS keychain).
//! - **Mechanisms**: [`whole`] (answers kept whole on the request path), [`remote`] (probing a
//!   remote MCP server), [`oauth`] (sign-in and the token keeper), [`events`] (what the hub
//!   announces), [`clients`] (Patchbay's entry in each MCP client's config), [`discovery`]
//!   (finding the running hub), [`api`] (the control API's contract), [`registry`] (the
//!   catalogue: the MCP Registry searched, a record made a server entry), [`bundle`] (`.mcpb`
//!   bundles checked, rendered to a server entry and unpacked).
//! - **The hub process**: [`hub`], one wing: its state, client sessions, upstreams, catalogue,
//!   list cache, calls, sign-in flows, the loopback endpoint and the control API's routes;
//!   [`serve`] starts it.
//! - **Beside the hub**: [`control`] (the control API's client, for the CLI and the app) and
//!   [`bridge`] (a client's stdio carried to the hub's endpoint).

pub mod api;
pub mod body;
pub mod bridge;
pub mod bundle;
pub mod clients;
pub mod config;
pub mod control;
pub mod discovery;
pub mod events;
pub mod exec;
pub mod files;
pub mod hub;
pub mod human;
pub mod logs;
pub mod names;
pub mod oauth;
pub mod paths;
pub mod platform;
pub mod registry;
pub mod remote;
pub mod secret;
pub mod serve;
pub mod sse;
#[cfg(test)]
mod test_http;
pub mod vault;
pub mod whole;

/// The version every component reports (`serverInfo`, `/api/v1/status`, `--version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
