//! The platform keychain under the vault: one `keyring-core` store per target.
//!
//! | target | store crate | keychain |
//! |---|---|---|
//! | Linux, BSD | `zbus-secret-service-keyring-store` (pure-Rust D-Bus and crypto) | Secret Service (GNOME Keyring, KeePassXC, KWallet) |
//! | macOS | `apple-native-keyring-store` (`keychain`) | the login keychain |
//! | Windows | `windows-native-keyring-store` | Credential Manager |
//!
//! We link `keyring-core` and the store crates rather than `keyring`'s all-in-one `v1` module:
//! that module opens its store once per process and remembers a failure for ever, so a hub
//! started before the user's keyring daemon could never reach it. Here the store is opened on
//! first use, opened again after a connection-level failure, and never replaced by anything
//! that is not the OS keychain.
//!
//! Every call blocks (D-Bus round trips, a possible unlock prompt); the vault runs them on
//! tokio's blocking pool.

use std::sync::{Arc, Mutex};

use keyring_core::Error as KeyringError;

use super::{Cause, VaultError};

/// The operations the vault needs from a keychain; blocking.
pub trait Backend: Send + Sync + 'static {
    /// The bytes stored under `account`, `None` when there is no such entry.
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, VaultError>;
    /// Store `bytes` under `account`, replacing what was there.
    fn set(&self, account: &str, bytes: &[u8]) -> Result<(), VaultError>;
    /// Delete `account`; `false` when it was not there.
    fn delete(&self, account: &str) -> Result<bool, VaultError>;
    /// Every account this namespace holds, when the keychain can enumerate them (`None` when
    /// it cannot; callers then work from the accounts they know).
    fn accounts(&self) -> Result<Option<Vec<String>>, VaultError>;
}

/// The OS keychain, entries under one service name.
pub struct Keychain {
    service: String,
    store: Mutex<Option<Arc<keyring_core::CredentialStore>>>,
}

impl Keychain {
    /// The keychain, with entries under `service`. Nothing is opened until first use.
    pub fn new(service: String) -> Self {
        Self {
            service,
            store: Mutex::new(None),
        }
    }

    fn store(&self) -> Result<Arc<keyring_core::CredentialStore>, VaultError> {
        let mut slot = self.store.lock().expect("keychain store lock");
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let store = open_store().map_err(|err| VaultError::unavailable(describe(&err)))?;
        *slot = Some(store.clone());
        Ok(store)
    }

    fn entry(&self, account: &str) -> Result<keyring_core::Entry, VaultError> {
        self.store()?
            .build(&self.service, account, None)
            .map_err(|err| self.failure(err, account))
    }

    /// Map a store error; a connection-level failure also drops the store so the next call
    /// connects again (the keyring daemon may have been restarted).
    fn failure(&self, err: KeyringError, account: &str) -> VaultError {
        match err {
            KeyringError::NoStorageAccess(_) => VaultError::Locked {
                cause: Cause(describe(&err)),
            },
            KeyringError::PlatformFailure(_) if connection_lost(&err) => {
                *self.store.lock().expect("keychain store lock") = None;
                VaultError::unavailable(describe(&err))
            }
            _ => VaultError::Keychain {
                account: account.to_owned(),
                cause: Cause(describe(&err)),
            },
        }
    }
}

impl Backend for Keychain {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, VaultError> {
        match self.entry(account)?.get_secret() {
            Ok(bytes) => Ok(Some(bytes)),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(err) => Err(self.failure(err, account)),
        }
    }

    fn set(&self, account: &str, bytes: &[u8]) -> Result<(), VaultError> {
        self.entry(account)?
            .set_secret(bytes)
            .map_err(|err| self.failure(err, account))
    }

    fn delete(&self, account: &str) -> Result<bool, VaultError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(err) => Err(self.failure(err, account)),
        }
    }

    fn accounts(&self) -> Result<Option<Vec<String>>, VaultError> {
        search_accounts(&self.store()?, &self.service).map_err(|err| self.failure(err, "*"))
    }
}

/// A keyring error said without any payload it may carry (`BadEncoding` holds the secret's
/// bytes: its `Debug` would print them, so only `Display` is ever used).
fn describe(err: &KeyringError) -> String {
    match err {
        KeyringError::BadEncoding(_) => "the stored value is not UTF-8".to_owned(),
        KeyringError::BadDataFormat(_, _) => {
            "the stored value is not in the expected format".to_owned()
        }
        KeyringError::Ambiguous(found) => {
            format!("{} keychain items match one entry", found.len())
        }
        other => other.to_string(),
    }
}

/// Whether a platform failure means the keychain itself went away (bus gone, daemon gone).
fn connection_lost(err: &KeyringError) -> bool {
    let text = err.to_string();
    [
        "ServiceUnknown",
        "NoReply",
        "Disconnected",
        "Broken pipe",
        "Connection reset",
        "Connection refused",
        "InputOutput",
        "No such file or directory",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn open_store() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    let store: Arc<keyring_core::CredentialStore> =
        zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn open_store() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    let store: Arc<keyring_core::CredentialStore> =
        apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "windows")]
fn open_store() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    let store: Arc<keyring_core::CredentialStore> = windows_native_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(not(any(unix, windows)))]
fn open_store() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Err(KeyringError::NotSupportedByStore(
        "no keychain is supported on this platform".to_owned(),
    ))
}

/// Secret Service can search by attribute: every item with our service name.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn search_accounts(
    store: &Arc<keyring_core::CredentialStore>,
    service: &str,
) -> keyring_core::Result<Option<Vec<String>>> {
    let spec = std::collections::HashMap::from([("service", service)]);
    let mut accounts = Vec::new();
    for entry in store.search(&spec)? {
        if let Some(user) = entry.get_attributes()?.remove("username") {
            accounts.push(user);
        }
    }
    accounts.sort();
    accounts.dedup();
    Ok(Some(accounts))
}

/// Other keychains: search specs differ per store; the vault works from known accounts.
#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn search_accounts(
    _store: &Arc<keyring_core::CredentialStore>,
    _service: &str,
) -> keyring_core::Result<Option<Vec<String>>> {
    Ok(None)
}

/// An in-memory keychain for unit tests of the layout. Like the keychain of the OS it stands
/// for, it refuses a blob over that OS's limit, so a record that would not fit there fails here
/// too; it counts reads and records every write and delete, so tests can prove what reaches the
/// keychain.
#[cfg(test)]
#[derive(Default)]
pub struct Memory {
    /// The entries, by account.
    pub entries: Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    /// The largest blob it takes (`None`: any).
    pub blob_limit: Option<usize>,
    /// How many `get`s it answered.
    pub reads: std::sync::atomic::AtomicUsize,
    /// Every `set` and `delete`, in order: `set <account>`, `delete <account>`.
    pub changes: Mutex<Vec<String>>,
}

#[cfg(test)]
impl Memory {
    /// An empty keychain with the blob limit of `os`'s.
    pub fn like(os: crate::platform::Os) -> Self {
        use crate::platform::Os;
        Self {
            blob_limit: match os {
                Os::Windows => Some(super::chunk::WINDOWS_BLOB_LIMIT),
                Os::MacOs | Os::Linux => None,
            },
            ..Self::default()
        }
    }

    /// How many reads so far.
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The writes and deletes so far, emptied.
    pub fn take_changes(&self) -> Vec<String> {
        std::mem::take(&mut *self.changes.lock().unwrap())
    }
}

#[cfg(test)]
impl Backend for Memory {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, VaultError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.entries.lock().unwrap().get(account).cloned())
    }

    fn set(&self, account: &str, bytes: &[u8]) -> Result<(), VaultError> {
        if self.blob_limit.is_some_and(|limit| bytes.len() > limit) {
            return Err(VaultError::Keychain {
                account: account.to_owned(),
                cause: Cause(format!("blob of {} bytes is over the limit", bytes.len())),
            });
        }
        self.changes.lock().unwrap().push(format!("set {account}"));
        self.entries
            .lock()
            .unwrap()
            .insert(account.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<bool, VaultError> {
        self.changes
            .lock()
            .unwrap()
            .push(format!("delete {account}"));
        Ok(self.entries.lock().unwrap().remove(account).is_some())
    }

    fn accounts(&self) -> Result<Option<Vec<String>>, VaultError> {
        Ok(Some(self.entries.lock().unwrap().keys().cloned().collect()))
    }
}
