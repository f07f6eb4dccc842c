//! The operating systems Patchbay runs on, as a value: per-OS rules elsewhere (client config
//! paths, the keychain's limits, how a browser is opened) are tables keyed by [`Os`], so every
//! platform's rules are tested on every platform.

/// An operating system Patchbay knows the rules of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
    /// Linux and other Unixes.
    Linux,
}

impl Os {
    /// The OS this build runs on.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}
