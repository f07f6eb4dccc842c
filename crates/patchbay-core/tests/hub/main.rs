//! The hub's request path, end to end and in process: a hub started with `serve` on a temporary
//! installation, real stdio servers behind it (`patchbay-test-server`, a binary of this crate),
//! and tests that speak to it only as clients do, over its loopback HTTP endpoint.
//!
//! No Python and no npm are needed; the tests against server-everything (`everything`) run when
//! the npm peers are installed and say `skipped: ...` otherwise.
//!
//! - `harness`: the hub, its installation and its clients; the only user of `patchbay_core`.
//! - `raw`: MCP as plain HTTP requests, each revision spoken by hand, answers read as text.
//! - `routing`: namespacing, routing, errors, structured content, progress, cancellation, logs.
//! - `passthrough`: answers kept whole (outside the protocol model too: the test server's
//!   `--raw` mode), as one JSON body and as a stream; prompts, resources, tool definitions,
//!   image content.
//! - `revisions`: the 2025-06-18 and 2025-11-25 handshakes, stateless 2026-07-28 clients, and
//!   their `Mcp-Method` header checked against the body.
//! - `security`: Host, Origin and bearer checks, the body cap, malformed JSON, the listener.
//! - `lifecycle`: list changes, config edits, crashes and restarts, lazy servers, shutdown.
//! - `client_requests`: sampling, elicitation and roots, from a server to the calling client.
//! - `catalog`: the Browse page's routes: the catalogue searched (the shipped snapshot when no
//!   registry answers), an entry previewed, and added only once confirmed.
//! - `bundles`: an `.mcpb` bundle file through the same routes: its entry, its plan (command,
//!   keychain names, signature, requirements), unpacked only once confirmed; files that are not
//!   bundles, or not named by an absolute path, refused with nothing unpacked.
//! - `apps`: MCP Apps of two servers at one `ui://` URI, each read from its own server.
//! - `everything`: a few calls through the hub to the reference server, when it is installed.

mod apps;
mod bundles;
mod catalog;
mod client_requests;
mod everything;
mod harness;
mod lifecycle;
mod passthrough;
mod raw;
mod revisions;
mod routing;
mod security;
