//! The app's connection to the hub ([`HubConnection`]): the hub is found through the discovery
//! file, or started (the bundled `patchbay serve`, detached, so it outlives the app), then
//! reached only through the control API ([`patchbay_core::control::Client`]).
//!
//! The client is made once and kept; a call that finds the hub gone drops it, and the next call
//! finds or starts a hub again. (Not the bridge's `patchbay_core::bridge::HubLink`, which
//! carries one MCP client's stdio to the hub.)

use std::path::PathBuf;

use patchbay_core::control::{Client, ClientError};
use patchbay_core::paths::Paths;
use tokio::sync::Mutex;

use crate::error::AppError;

/// The environment variable naming the `patchbay` binary to start (tests, development).
pub const BIN_ENV: &str = "PATCHBAY_BIN";

/// The app's connection to the hub: where the hub is, how to start one, and the control API
/// client of the one running.
pub struct HubConnection {
    paths: Paths,
    exe: PathBuf,
    /// Variables the app set for itself ([`crate::engine::tune`]) that a hub it starts drops.
    unset: Vec<&'static str>,
    client: Mutex<Option<Client>>,
}

impl HubConnection {
    /// A connection to this user's hub, started from `patchbay` beside the app unless `PATCHBAY_BIN`
    /// names another, without the variables in `unset` in its environment.
    pub fn from_env(unset: Vec<&'static str>) -> Result<Self, AppError> {
        let paths = Paths::from_env().map_err(AppError::shell)?;
        let exe = match std::env::var_os(BIN_ENV).filter(|v| !v.is_empty()) {
            Some(bin) => PathBuf::from(bin),
            None => sidecar()?,
        };
        Ok(Self {
            paths,
            exe,
            unset,
            client: Mutex::new(None),
        })
    }

    /// The control API client of the running hub, starting one when none runs.
    pub async fn client(&self) -> Result<Client, AppError> {
        let mut held = self.client.lock().await;
        if let Some(client) = held.as_ref() {
            return Ok(client.clone());
        }
        let found =
            patchbay_core::bridge::ensure_hub_without(&self.paths, &self.exe, &self.unset).await?;
        let client = Client::new(&found)?;
        *held = Some(client.clone());
        Ok(client)
    }

    /// Forget the hub: the next call finds or starts one again.
    pub async fn forget(&self) {
        self.client.lock().await.take();
    }

    /// Run one control API call; a hub found gone is forgotten so the next call finds or
    /// starts one.
    pub async fn call<T, F>(&self, call: impl FnOnce(Client) -> F) -> Result<T, AppError>
    where
        F: std::future::Future<Output = Result<T, ClientError>>,
    {
        let client = self.client().await?;
        let result = call(client).await;
        if let Err(ClientError::Unreachable { .. }) = &result {
            self.client.lock().await.take();
        }
        result.map_err(AppError::from)
    }
}

/// The `patchbay` binary shipped beside the app (Tauri puts `externalBin` sidecars there).
fn sidecar() -> Result<PathBuf, AppError> {
    let exe = std::env::current_exe().map_err(AppError::shell)?;
    let name = format!("patchbay{}", std::env::consts::EXE_SUFFIX);
    let bin = exe.with_file_name(name);
    if bin.exists() {
        Ok(bin)
    } else {
        Err(AppError::shell(format!(
            "the `patchbay` binary is not beside the app ({}); reinstall Patchbay or set {BIN_ENV}",
            bin.display()
        )))
    }
}
