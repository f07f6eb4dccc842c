//! Where Patchbay keeps its files.
//!
//! Every path the core touches comes from [`Paths`], so one environment variable,
//! `PATCHBAY_HOME`, moves all of it (tests and portable installs use this and never touch the
//! real home). Without it the platform directories from `directories` are used:
//! the config file in the config dir, discovery/secret/lock in the state (or runtime) dir and
//! per-server logs and unpacked `.mcpb` bundles in the data dir.
//!
//! A process another program starts may not see the environment these were resolved from:
//! Codex and Claude Desktop start a stdio server with little more than `HOME`, `PATH` and
//! `USER`. [`locating_env`] says which variables such a process needs to find the same files.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that relocates every Patchbay file under one directory.
pub const HOME_ENV: &str = "PATCHBAY_HOME";

/// The keychain service of the user's own installation; an installation under [`HOME_ENV`]
/// gets its own (the root's hash appended), so tests never touch the user's secrets.
pub const KEYCHAIN_SERVICE: &str = "patchbay";

/// The XDG base directories the platform paths follow on Linux and other XDG systems, with the
/// default of each below the home directory (`directories` ignores a relative value, and so do
/// we). macOS and Windows paths come from the home directory and the known folders alone.
const XDG_BASES: &[(&str, &str)] = &[
    ("XDG_CONFIG_HOME", ".config"),
    ("XDG_DATA_HOME", ".local/share"),
    ("XDG_STATE_HOME", ".local/state"),
    ("XDG_CACHE_HOME", ".cache"),
];

/// Every variable [`locating_env`] may name: an entry that carries one of these carries it for
/// Patchbay, and it is replaced or dropped as the locations change.
pub const LOCATING_VARS: &[&str] = &[
    HOME_ENV,
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
];

/// The variables, with their values, that a process started with only `HOME`, `PATH` and `USER`
/// needs for [`Paths::from_env`] to find the files this process finds: `PATCHBAY_HOME` (made
/// absolute) when it is set, else each XDG base directory moved away from its default under
/// `HOME`. Empty when the defaults are in use, which is the common case.
pub fn locating_env() -> std::io::Result<BTreeMap<String, String>> {
    locating_env_in(
        |name| std::env::var_os(name),
        directories::BaseDirs::new().map(|d| d.home_dir().to_owned()),
        cfg!(all(unix, not(target_os = "macos"))),
    )
}

/// [`locating_env`] over a given environment and home directory; `xdg` says whether the
/// platform paths follow the XDG variables.
fn locating_env_in(
    var: impl Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
    xdg: bool,
) -> std::io::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let text = |path: &Path| path.to_string_lossy().into_owned();
    if let Some(root) = var(HOME_ENV).filter(|v| !v.is_empty()) {
        env.insert(HOME_ENV.to_owned(), text(&std::path::absolute(root)?));
        return Ok(env);
    }
    if !xdg {
        return Ok(env);
    }
    for (name, default) in XDG_BASES {
        let Some(value) = var(name).map(PathBuf::from).filter(|p| p.is_absolute()) else {
            continue;
        };
        let moved = home.as_ref().is_none_or(|home| value != home.join(default));
        if moved {
            env.insert((*name).to_owned(), text(&value));
        }
    }
    Ok(env)
}

/// The resolved locations of Patchbay's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The human-edited TOML config file.
    pub config_file: PathBuf,
    /// Discovery file, hub lock and local bearer secret.
    pub state_dir: PathBuf,
    /// Per-server stderr logs and the hub's own log.
    pub log_dir: PathBuf,
    /// Cached catalogues and other derived data that may be deleted at any time.
    pub cache_dir: PathBuf,
    /// Unpacked `.mcpb` bundles, one directory per server (`bundles/NAME`).
    pub bundle_dir: PathBuf,
    /// The keychain service name the vault's entries are under: `patchbay`, or for an
    /// installation under `PATCHBAY_HOME` one named after that directory, so installations
    /// never share secrets.
    pub vault_service: String,
}

/// Failure to find a home for Patchbay's files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathsError {
    /// Neither `PATCHBAY_HOME` nor a platform home directory is known.
    #[error("cannot find a home directory for Patchbay's files; set `{HOME_ENV}`")]
    NoHome,
}

impl Paths {
    /// Paths from `PATCHBAY_HOME` when set, else the platform directories.
    pub fn from_env() -> Result<Self, PathsError> {
        match std::env::var_os(HOME_ENV) {
            Some(home) if !home.is_empty() => Ok(Self::under(Path::new(&home))),
            _ => Self::platform(),
        }
    }

    /// Every file under one root directory.
    pub fn under(root: &Path) -> Self {
        Self {
            config_file: root.join("config.toml"),
            state_dir: root.join("state"),
            log_dir: root.join("logs"),
            cache_dir: root.join("cache"),
            bundle_dir: root.join("bundles"),
            vault_service: format!(
                "{}@{:016x}",
                KEYCHAIN_SERVICE,
                crate::names::fnv1a64(
                    std::path::absolute(root)
                        .unwrap_or_else(|_| root.to_owned())
                        .to_string_lossy()
                        .as_bytes()
                )
            ),
        }
    }

    fn platform() -> Result<Self, PathsError> {
        let dirs = directories::ProjectDirs::from("dev", "patchbay", "Patchbay")
            .ok_or(PathsError::NoHome)?;
        let state_dir = dirs
            .state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf();
        Ok(Self {
            config_file: dirs.config_dir().join("config.toml"),
            state_dir,
            log_dir: dirs.data_local_dir().join("logs"),
            cache_dir: dirs.cache_dir().to_path_buf(),
            bundle_dir: dirs.data_local_dir().join("bundles"),
            vault_service: KEYCHAIN_SERVICE.to_owned(),
        })
    }

    /// The discovery file a running hub writes: port, pid, secret location.
    pub fn discovery_file(&self) -> PathBuf {
        self.state_dir.join("hub.json")
    }

    /// The lock a running hub holds for its whole life; whoever holds it is the hub.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("hub.lock")
    }

    /// The per-install bearer secret (mode 0600).
    pub fn secret_file(&self) -> PathBuf {
        self.state_dir.join("secret")
    }

    /// The hub's own log when it runs in the background.
    pub fn hub_log(&self) -> PathBuf {
        self.log_dir.join("hub.log")
    }

    /// Where the client config writers keep what they installed (client, file, mode).
    pub fn clients_file(&self) -> PathBuf {
        self.state_dir.join("clients.json")
    }

    /// Timestamped copies of one client's config file, taken before Patchbay changes it.
    pub fn client_backups(&self, client: &str) -> PathBuf {
        self.state_dir.join("backups").join(client)
    }

    /// The lock Patchbay's writers take before editing one client's config file.
    pub fn client_lock(&self, client: &str) -> PathBuf {
        self.state_dir.join("locks").join(format!("{client}.lock"))
    }

    /// The cached lists of a lazy server (see `list_cache`).
    pub fn list_cache(&self, server: &str) -> PathBuf {
        self.cache_dir.join("lists").join(format!("{server}.json"))
    }

    /// Where the bundle of server `server` is unpacked.
    pub fn bundle(&self, server: &str) -> PathBuf {
        self.bundle_dir.join(server)
    }

    /// One server's stderr log.
    pub fn server_log(&self, server: &str) -> PathBuf {
        self.log_dir.join(format!("{server}.log"))
    }

    /// The registries' listings kept by the catalogue refresh (`registry::listing`).
    pub fn registry_listings(&self) -> PathBuf {
        self.cache_dir.join("registry")
    }

    /// The tool definitions accepted of `server` (`hub::review`).
    pub fn accepted_tools(&self, server: &str) -> PathBuf {
        self.state_dir.join("tools").join(format!("{server}.json"))
    }

    /// Bundles downloaded for registry records, by their SHA-256 (`bundle::fetch`).
    pub fn bundle_downloads(&self) -> PathBuf {
        self.cache_dir.join("downloads")
    }

    /// The desktop app's own settings (whether it checks for its updates by itself).
    pub fn app_settings(&self) -> PathBuf {
        self.state_dir.join("app.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_lives_under_the_override_root() {
        let paths = Paths::under(Path::new("/tmp/pb"));
        for path in [
            &paths.config_file,
            &paths.state_dir,
            &paths.log_dir,
            &paths.cache_dir,
            &paths.bundle_dir,
        ] {
            assert!(path.starts_with("/tmp/pb"), "{path:?} escapes the root");
        }
        assert_eq!(paths.server_log("time"), Path::new("/tmp/pb/logs/time.log"));
    }

    /// Without `PATCHBAY_HOME`, the usual per-user folders: on Windows the config roams
    /// (`%APPDATA%`) and state, logs and cache stay on the machine (`%LOCALAPPDATA%`); the XDG
    /// base directories elsewhere on unix; Application Support and Caches on macOS.
    #[test]
    fn platform_paths_are_the_usual_per_user_folders() {
        let paths = Paths::platform().expect("a home directory");
        #[cfg(windows)]
        let (config, state, logs, cache, bundles) = {
            let known = |name: &str| {
                PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("{name} is set")))
                    .join("patchbay")
                    .join("Patchbay")
            };
            let (roaming, local) = (known("APPDATA"), known("LOCALAPPDATA"));
            (
                roaming.join("config").join("config.toml"),
                local.join("data"),
                local.join("data").join("logs"),
                local.join("cache"),
                local.join("data").join("bundles"),
            )
        };
        #[cfg(target_os = "macos")]
        let (config, state, logs, cache, bundles) = {
            let home = directories::BaseDirs::new().unwrap().home_dir().to_owned();
            let support = home.join("Library/Application Support/dev.patchbay.Patchbay");
            (
                support.join("config.toml"),
                support.clone(),
                support.join("logs"),
                home.join("Library/Caches/dev.patchbay.Patchbay"),
                support.join("bundles"),
            )
        };
        #[cfg(all(unix, not(target_os = "macos")))]
        let (config, state, logs, cache, bundles) = {
            let home = directories::BaseDirs::new().unwrap().home_dir().to_owned();
            let base = |name: &str, default: &str| {
                std::env::var_os(name)
                    .map(PathBuf::from)
                    .filter(|path| path.is_absolute())
                    .unwrap_or_else(|| home.join(default))
                    .join("patchbay")
            };
            (
                base("XDG_CONFIG_HOME", ".config").join("config.toml"),
                base("XDG_STATE_HOME", ".local/state"),
                base("XDG_DATA_HOME", ".local/share").join("logs"),
                base("XDG_CACHE_HOME", ".cache"),
                base("XDG_DATA_HOME", ".local/share").join("bundles"),
            )
        };
        assert_eq!(paths.config_file, config, "config file");
        assert_eq!(paths.state_dir, state, "discovery, lock and secret");
        assert_eq!(paths.log_dir, logs, "logs");
        assert_eq!(paths.cache_dir, cache, "cache");
        assert_eq!(
            paths.bundle_dir, bundles,
            "unpacked bundles, beside the logs"
        );
        assert_eq!(paths.vault_service, KEYCHAIN_SERVICE);
    }

    #[test]
    fn a_stripped_environment_is_told_only_what_moved() {
        // Absolute on the OS the test runs on (the function is tested on every OS, though only
        // XDG systems call it with `xdg`).
        let abs = |path: &str| format!("{}{path}", if cfg!(windows) { "C:" } else { "" });
        let home = PathBuf::from(abs("/home/u"));
        let locate = |pairs: &[(&str, String)], xdg: bool| {
            let vars: BTreeMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
                .collect();
            locating_env_in(|name| vars.get(name).cloned(), Some(home.clone()), xdg)
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>()
        };
        let owned = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<Vec<_>>()
        };

        assert_eq!(locate(&[], true), owned(&[]), "defaults: nothing to carry");
        let defaults = [
            ("XDG_CONFIG_HOME", abs("/home/u/.config")),
            ("XDG_DATA_HOME", abs("/home/u/.local/share/")),
            ("XDG_STATE_HOME", abs("/home/u/.local/state")),
            ("XDG_CACHE_HOME", abs("/home/u/.cache")),
            ("XDG_RUNTIME_DIR", abs("/run/user/1000")),
        ];
        assert_eq!(
            locate(&defaults, true),
            owned(&[]),
            "variables set to their defaults change nothing"
        );
        let moved = [
            ("XDG_CONFIG_HOME", abs("/srv/cfg")),
            ("XDG_STATE_HOME", abs("/home/u/.local/state")),
            ("XDG_CACHE_HOME", "relative/is/ignored".to_owned()),
            ("XDG_DATA_HOME", abs("/data")),
        ];
        assert_eq!(
            locate(&moved, true),
            owned(&[
                ("XDG_CONFIG_HOME", abs("/srv/cfg")),
                ("XDG_DATA_HOME", abs("/data"))
            ])
        );
        assert_eq!(
            locate(&moved, false),
            owned(&[]),
            "macOS and Windows paths do not follow XDG"
        );
        let root = std::path::absolute("/opt/pb").unwrap();
        assert_eq!(
            locate(
                &[
                    (HOME_ENV, "/opt/pb".to_owned()),
                    ("XDG_CONFIG_HOME", abs("/srv/cfg"))
                ],
                false
            ),
            owned(&[(HOME_ENV, root.to_string_lossy().into_owned())]),
            "PATCHBAY_HOME alone decides where everything is"
        );
        for (name, _) in locate(&moved, true) {
            assert!(LOCATING_VARS.contains(&name.as_str()), "{name} is listed");
        }
    }
}
