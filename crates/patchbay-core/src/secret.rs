//! Secrets: a redacting newtype, and the per-install bearer secret of the local endpoint.
//!
//! The bearer secret is made on first run from the OS random source and kept in a file only the
//! user can read (0600 in a 0700 directory). Every request to the hub must present it; it is
//! never written into a client's config or a log.

use std::fmt;
use std::io::Write;
use std::path::Path;

/// A secret string. `Debug` and `Display` print `****`; there is no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == presented.len() && bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Read the bearer secret, making it on first use.
pub fn load_or_create(path: &Path) -> std::io::Result<Secret> {
    match fs_err::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Secret::new(text.trim())),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    set_private(tmp.path(), 0o600)?;
    writeln!(tmp, "{token}")?;
    tmp.as_file().sync_all()?;
    // Two first runs racing: the first rename wins and both read the winner back.
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(Secret::new(token)),
        Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Secret::new(fs_err::read_to_string(path)?.trim()))
        }
        Err(err) => Err(err.error),
    }
}

/// Read the secret a running hub names in its discovery file.
pub fn read(path: &Path) -> std::io::Result<Secret> {
    Ok(Secret::new(fs_err::read_to_string(path)?.trim()))
}

/// Create `dir` (and parents) readable by the user only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(dir)?;
    set_private(dir, 0o700)
}

#[cfg(unix)]
fn set_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_private(_path: &Path, _mode: u32) -> std::io::Result<()> {
    // On Windows the user's profile directories are already private to the user.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_itself() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "**** Secret(****)");
        assert!(s.matches(b"hunter2") && !s.matches(b"hunter3") && !s.matches(b"hunter"));
    }

    #[test]
    fn bearer_secret_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/secret");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.expose().len(), 64);
        assert_eq!(
            load_or_create(&path).unwrap(),
            first,
            "second run reuses the secret"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "secret file must be user-only");
        }
    }
}
