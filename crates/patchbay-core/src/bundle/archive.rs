//! A bundle's bytes: the zip inside, the signature block `mcpb sign` may have appended (verified
//! before the zip is read, [`super::signature`]), and the one bounded unpacking of its entries.
//!
//! Every entry is checked before anything is written: a name that climbs out of the bundle
//! (`..`, an absolute path, a drive), a symbolic link, more than [`MAX_ENTRIES`] entries or more
//! than [`MAX_UNPACKED`] bytes unpacked are refused. The sizes the zip declares are checked
//! first and the bytes actually written are counted again, so a lying header gains nothing.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::signature::{self, SignatureError, Signer};

/// Most entries a bundle may hold.
pub const MAX_ENTRIES: usize = 20_000;
/// Most bytes a bundle may unpack to.
pub const MAX_UNPACKED: u64 = 512 * 1024 * 1024;
/// Largest `manifest.json` read.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// Whether a bundle is signed, and by whom when its signature matched ([`super::signature`]).
/// A signature that does not match, or a block that does not parse, refuses the bundle, so
/// there is no "signed but not verified".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// No signature block.
    Unsigned,
    /// A signature that matches the content, by this signer (no chain or date checked).
    Signed(Signer),
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signature::Unsigned => f.write_str("unsigned"),
            Signature::Signed(signer) => signer.fmt(f),
        }
    }
}

/// Why a bundle's archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The signature block does not parse or does not match.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a zip file.
    #[error("not an .mcpb bundle (not a zip file)")]
    NotZip(#[source] zip::result::ZipError),
    /// An entry that would land outside the bundle, or a link.
    #[error("the bundle's entry `{0}` {1}; refused")]
    Unsafe(String, &'static str),
    /// Too many entries.
    #[error("the bundle holds more than {MAX_ENTRIES} entries; refused")]
    TooManyEntries,
    /// Too many bytes.
    #[error("the bundle unpacks to more than {} MiB; refused", MAX_UNPACKED / 1024 / 1024)]
    TooLarge,
    /// No `manifest.json` at its root.
    #[error("the bundle has no manifest.json at its root")]
    NoManifest,
    /// An entry could not be read.
    #[error("the bundle's entry `{0}` cannot be read")]
    Entry(String, #[source] zip::result::ZipError),
    /// Writing the unpacked files failed.
    #[error("cannot write {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
}

/// A bundle's zip, its entries checked.
pub struct Archive {
    zip: zip::ZipArchive<Cursor<Vec<u8>>>,
    /// The signature block, if any.
    pub signature: Signature,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("entries", &self.zip.len())
            .field("signature", &self.signature)
            .finish()
    }
}

/// Whether an entry's name is absolute, names a drive, or has a `..` part (checked here, not
/// only by the zip reader, which makes some absolute names relative).
fn climbs(name: &str) -> bool {
    name.starts_with(['/', '\\'])
        || name.contains(':')
        || name.split(['/', '\\']).any(|part| part == "..")
}

impl Archive {
    /// The bundle in `bytes`: its signature verified when it has one, then each entry's name,
    /// kind and size checked.
    pub fn open(mut bytes: Vec<u8>) -> Result<Self, ArchiveError> {
        let (zip_part, block) = signature::split(&bytes)?;
        let signature = match block {
            None => Signature::Unsigned,
            Some(block) => Signature::Signed(signature::verify(zip_part, block)?),
        };
        let len = zip_part.len();
        bytes.truncate(len);
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(ArchiveError::NotZip)?;
        if zip.len() > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        let mut total: u64 = 0;
        for n in 0..zip.len() {
            let entry = zip
                .by_index_raw(n)
                .map_err(|e| ArchiveError::Entry(n.to_string(), e))?;
            let name = (entry.name())
                .map_err(|e| ArchiveError::Entry(n.to_string(), e))?
                .into_owned();
            if entry.enclosed_name().is_none() || climbs(&name) {
                return Err(ArchiveError::Unsafe(name, "climbs out of the bundle"));
            }
            if entry.is_symlink() {
                return Err(ArchiveError::Unsafe(name, "is a symbolic link"));
            }
            total = total.saturating_add(entry.size());
            if total > MAX_UNPACKED {
                return Err(ArchiveError::TooLarge);
            }
        }
        Ok(Self { zip, signature })
    }

    /// The bytes of `manifest.json`.
    pub fn manifest(&mut self) -> Result<Vec<u8>, ArchiveError> {
        let entry = match self.zip.by_name("manifest.json") {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Err(ArchiveError::NoManifest),
            Err(e) => return Err(ArchiveError::Entry("manifest.json".into(), e)),
        };
        let mut text = Vec::new();
        (entry.take(MAX_MANIFEST + 1).read_to_end(&mut text))
            .map_err(|e| ArchiveError::Entry("manifest.json".into(), e.into()))?;
        if text.len() as u64 > MAX_MANIFEST {
            return Err(ArchiveError::TooLarge);
        }
        Ok(text)
    }

    /// Write every entry under `dir` (which exists and is empty), counting the bytes written;
    /// file modes' execute bits are kept on unix.
    pub fn unpack(&mut self, dir: &Path) -> Result<(), ArchiveError> {
        let mut left = MAX_UNPACKED;
        for n in 0..self.zip.len() {
            let mut entry =
                (self.zip.by_index(n)).map_err(|e| ArchiveError::Entry(n.to_string(), e))?;
            let name = (entry.name())
                .map_err(|e| ArchiveError::Entry(n.to_string(), e))?
                .into_owned();
            let relative = entry
                .enclosed_name()
                .ok_or_else(|| ArchiveError::Unsafe(name.clone(), "climbs out of the bundle"))?;
            let path = dir.join(relative);
            let write = |e| ArchiveError::Write(path.clone(), e);
            if entry.is_dir() {
                fs_err::create_dir_all(&path).map_err(write)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent).map_err(write)?;
            }
            let mut file = fs_err::File::create(&path).map_err(write)?;
            let written =
                std::io::copy(&mut (&mut entry).take(left + 1), &mut file).map_err(write)?;
            if written > left {
                return Err(ArchiveError::TooLarge);
            }
            left -= written;
            #[cfg(unix)]
            if let Some(mode) = entry.unix_mode()
                && mode & 0o111 != 0
            {
                use std::os::unix::fs::PermissionsExt;
                let permissions = std::fs::Permissions::from_mode(0o755);
                fs_err::set_permissions(&path, permissions).map_err(write)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A zip made by hand (stored, no compression): each entry's name, bytes and unix mode
    /// (`0o120777` makes a symbolic link).
    pub(crate) fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, mode) in entries {
            let offset = out.len() as u32;
            let crc = crc32(data);
            let mut local = Vec::new();
            local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            local.extend_from_slice(&20u16.to_le_bytes()); // version needed
            local.extend_from_slice(&0u16.to_le_bytes()); // flags
            local.extend_from_slice(&0u16.to_le_bytes()); // stored
            local.extend_from_slice(&0u32.to_le_bytes()); // time, date
            local.extend_from_slice(&crc.to_le_bytes());
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local);
            out.extend_from_slice(data);
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&(0x0300u16 | 20).to_le_bytes()); // made by unix
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attrs
            central.extend_from_slice(&(mode << 16).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    const FILE: u32 = 0o100644;

    #[test]
    fn entries_that_climb_out_or_link_are_refused() {
        for (name, mode, why) in [
            ("../evil.js", FILE, "climbs out"),
            ("server/../../evil.js", FILE, "climbs out"),
            ("/etc/evil", FILE, "climbs out"),
            ("server\\..\\..\\evil", FILE, "climbs out"),
            ("server/link", 0o120777, "symbolic link"),
        ] {
            let bytes = zip_of(&[("manifest.json", b"{}", FILE), (name, b"x", mode)]);
            let err = Archive::open(bytes).expect_err(name).to_string();
            assert!(err.contains(name) && err.contains(why), "{name}: {err}");
        }
    }

    #[test]
    fn too_many_entries_or_bytes_are_refused() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|n| format!("f{n}")).collect();
        let entries: Vec<(&str, &[u8], u32)> =
            names.iter().map(|n| (n.as_str(), &b""[..], FILE)).collect();
        assert!(matches!(
            Archive::open(zip_of(&entries)),
            Err(ArchiveError::TooManyEntries)
        ));
        // Headers declaring more than the cap between them.
        let mut one = zip_of(&[("a", b"abcd", FILE), ("b", b"abcd", FILE)]);
        for at in memchr::memmem::find_iter(&one.clone(), &0x0201_4b50u32.to_le_bytes()) {
            one[at + 24..at + 28].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        }
        assert!(matches!(Archive::open(one), Err(ArchiveError::TooLarge)));
    }

    #[test]
    fn a_signature_is_verified_before_the_zip_is_read() {
        use crate::bundle::signature::tests::Signing;
        let zip = zip_of(&[("manifest.json", b"{}", FILE)]);
        let archive = Archive::open(zip.clone()).unwrap();
        assert_eq!(archive.signature, Signature::Unsigned);
        let signing = Signing::new("Ada", None);
        let mut archive = Archive::open([&zip[..], &signing.block(&zip, None)].concat()).unwrap();
        assert_eq!(
            archive.signature.to_string(),
            "signed by CN=Ada (self-signed)"
        );
        assert_eq!(
            archive.manifest().unwrap(),
            b"{}",
            "the zip before the block reads"
        );

        let mut changed = zip.clone();
        let at = memchr::memmem::find(&changed, b"{}").unwrap();
        changed[at + 1] = b']';
        let err = Archive::open([&changed[..], &signing.block(&zip, None)].concat());
        assert!(
            matches!(err, Err(ArchiveError::Signature(SignatureError::Mismatch))),
            "a zip changed after signing: {err:?}"
        );
        let junk = [
            &zip[..],
            b"MCPB_SIG_V1",
            &4u32.to_le_bytes(),
            b"pkcs",
            b"MCPB_SIG_END",
        ]
        .concat();
        let err = Archive::open(junk).unwrap_err().to_string();
        assert!(err.contains("signature block is malformed"), "{err}");
    }

    #[test]
    fn unpacking_writes_the_entries_under_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_of(&[
            ("manifest.json", b"{}", FILE),
            ("server/", b"", 0o040755),
            ("server/index.js", b"run()", 0o100755),
        ]);
        Archive::open(bytes).unwrap().unpack(dir.path()).unwrap();
        let index = dir.path().join("server/index.js");
        assert_eq!(std::fs::read(&index).unwrap(), b"run()");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&index).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "an executable stays executable");
        }
    }
}
