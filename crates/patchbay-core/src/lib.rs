//! Patchbay's headless core.
//!
//! Everything the hub does lives here, with no GUI dependency, so the CLI, the desktop shell and
//! the tests all drive the same code: [`paths`] says where files live, [`config`] reads and edits
//! the user's TOML, [`supervisor`] runs the stdio servers, [`router`] merges their catalogues under
//! namespaced names, [`endpoint`] serves them on loopback with the [`control`] API beside, and
//! [`bridge`] carries a client's stdio to that endpoint; [`clients`] writes the entry that runs
//! it into each MCP client's own config; [`vault`] keeps secrets in the OS keychain.

pub mod api;
pub mod bridge;
pub mod clients;
pub mod config;
pub mod control;
pub mod discovery;
pub mod events;
pub mod exec;
pub mod hub;
pub mod human;
pub mod logs;
pub mod names;
pub mod oauth;
pub mod paths;
pub mod platform;
pub mod remote;
pub mod secret;
pub mod serve;
pub mod sse;
pub mod vault;
pub mod whole;

/// The version every component reports (`serverInfo`, `/api/v1/status`, `--version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
