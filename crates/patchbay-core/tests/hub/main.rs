//! The hub's request path, end to end and in process: a hub started with `serve` on a temporary
//! installation, real stdio servers behind it (`patchbay-test-server`, a binary of this crate),
//! and tests that speak to it only as clients do, over its loopback HTTP endpoint.
//!
//! No Python and no npm are needed; the tests against server-everything (`everything`) run when
//! the npm peers are installed and say `skipped: ...` otherwise.
//!
//! - `harness`: the hub, its installation and its clients; the only user of `patchbay_core`.
//! - `routing`: namespacing, routing, errors, structured content, progress, cancellation.
//! - `security`: Host, Origin and bearer checks, the body cap, malformed JSON, the listener.
//! - `lifecycle`: list changes, config edits, crashes and restarts, lazy servers, shutdown.
//! - `client_requests`: sampling, elicitation and roots, from a server to the calling client.
//! - `everything`: a few calls through the hub to the reference server, when it is installed.

mod client_requests;
mod everything;
mod harness;
mod lifecycle;
mod routing;
mod security;
