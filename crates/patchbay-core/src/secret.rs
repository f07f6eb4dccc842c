//! Secrets: a redacting newtype, and the per-install bearer secret of the local endpoint.
//!
//! The bearer secret is made on first run from the OS random source and kept in a file only the
//! user can read (0600 in a 0700 directory; on Windows, a protected DACL granting the user alone,
//! see `acl`). Every request to the hub must present it; it is never written into a client's
//! config or a log. The hub's lock and discovery file are made private the same way.

use std::fmt;
use std::io::Write;
use std::path::Path;

#[cfg(windows)]
#[allow(unsafe_code)]
mod acl;

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

/// `bytes` random bytes from the OS, in hex: an unguessable token.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

/// Read the bearer secret, making it on first use; a secret made before is made private again
/// (on Windows, one from before the ACL kept only what its directory let it inherit).
pub fn load_or_create(path: &Path) -> std::io::Result<Secret> {
    match fs_err::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            make_private(path)?;
            return Ok(Secret::new(text.trim()));
        }
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let token = random_hex(32)?;
    // Private before the token is written (and, in the private directory, from creation on).
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    make_private(tmp.path())?;
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
    make_private(dir)
}

/// Make a file or directory readable and writable by the user alone: mode 0600 or 0700 on
/// unix; on Windows a protected DACL with one ACE for the user, which on a directory new files
/// inherit (and which replaces what the directory's existing children inherited).
pub(crate) fn make_private(path: &Path) -> std::io::Result<()> {
    let is_dir = fs_err::metadata(path)?.is_dir();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if is_dir { 0o700 } else { 0o600 };
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(windows)]
    {
        acl::restrict_to_user(path, is_dir).map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!(
                    "failed to make `{}` private to the user: {err}",
                    path.display()
                ),
            )
        })
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (path, is_dir);
        Ok(())
    }
}

/// Check that `path` is private to the user as [`make_private`] leaves it, for tests here and
/// in the modules that call it.
#[cfg(test)]
pub(crate) fn assert_private(path: &Path) {
    let is_dir = path.is_dir();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} must be user-only", path.display());
    }
    #[cfg(windows)]
    {
        use acl::inspect;
        let user = inspect::current_user().unwrap();
        let dacl = inspect::read(path).unwrap();
        if inspect::under_wine() {
            // Wine keeps no ACL: it turns the one set into unix mode bits and, read back, makes
            // a DACL up from the mode: always SYSTEM, the owner, Everyone for "other" bits, never
            // protected. What can be checked: the user may read it, and nobody but the user and
            // SYSTEM is named (no Everyone, so no bits for others).
            assert!(
                dacl.aces.iter().any(|ace| ace.kind == inspect::ALLOWED
                    && ace.sid == user
                    && ace.mask & inspect::READ_DATA != 0),
                "{}: the user can read it: {dacl:?}",
                path.display()
            );
            for ace in &dacl.aces {
                assert!(
                    ace.sid == user || ace.sid == "S-1-5-18",
                    "{}: only the user (and wine's SYSTEM) named: {dacl:?}",
                    path.display()
                );
            }
            return;
        }
        assert!(
            dacl.protected,
            "{}: nothing inherited: {dacl:?}",
            path.display()
        );
        let inherit = if is_dir { 0x3 } else { 0 };
        assert_eq!(
            dacl.aces,
            [inspect::Ace {
                kind: inspect::ALLOWED,
                flags: inherit,
                mask: inspect::FULL_ACCESS,
                sid: user,
            }],
            "{}: exactly one ACE, allowing the user",
            path.display()
        );
    }
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        assert_eq!(
            load_or_create(&path).unwrap(),
            first,
            "second run reuses the secret (and makes it private again)"
        );
        assert_private(&path);
        assert_private(path.parent().unwrap());
    }

    /// The ACL `make_private` sets, checked as built: under wine, where it cannot be read
    /// back as set, this is what proves its shape.
    #[cfg(windows)]
    #[test]
    fn windows_acl_is_one_allow_ace_for_the_user() {
        use acl::inspect;
        let user = inspect::current_user().unwrap();
        assert!(user.starts_with("S-1-5-"), "a user SID: {user}");
        for (is_dir, flags) in [(false, 0), (true, 0x3)] {
            assert_eq!(
                inspect::built(is_dir).unwrap(),
                [inspect::Ace {
                    kind: inspect::ALLOWED,
                    flags,
                    mask: inspect::FULL_ACCESS,
                    sid: user.clone(),
                }],
                "directory: {is_dir}; inherited by new children only on a directory"
            );
        }
    }
}
