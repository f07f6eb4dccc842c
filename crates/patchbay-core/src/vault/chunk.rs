//! How one logical record becomes keychain entries, on each OS.
//!
//! Which keychains need chunks is data ([`entry_limit`], tested for every OS): Windows Credential
//! Manager refuses a credential blob over 2,560 bytes, and an OAuth token set (two JWTs plus
//! metadata) is often larger. The macOS login keychain and Secret Service take a record of any
//! size in one item and rewrite an existing item in place (`SecKeychainItemModifyAttributesAndData`;
//! `SetSecret` on the item found), so there every record is one item for its whole life: on
//! macOS one item keeps one access list, and the user is asked at most once per item, not again
//! at every refresh.
//!
//! A record that fits is stored as it is under its account, so `secret-tool lookup` shows an
//! env secret verbatim. On Windows a larger one is cut into chunks stored under
//! `<account>#<generation>.<i>` (1-based), and the account itself holds a one-line head naming
//! them:
//!
//! ```text
//! patchbay-chunked:v1:<generation>:<count>:<total bytes>:<fnv-1a 64 of the bytes, hex>
//! ```
//!
//! Writes put the new generation's chunks first and the head last, so the head switches from
//! the old complete record to the new complete record in one step; the old generation's chunks
//! are deleted after. A reader that finds a chunk missing or a checksum wrong (a writer raced it)
//! reads the head again; a record still inconsistent then is reported as damaged, never guessed.
//! A short value that happens to start with the head prefix is stored chunked on every OS, so a
//! head is never mistaken for a value or the other way round. Every OS reads chunked records
//! (Patchbay 0.1 chunked everywhere); a write where chunks are not needed replaces the head with
//! the record itself, in place, and deletes the old chunks.

use crate::names::fnv1a64;
use crate::platform::Os;

/// Largest blob Windows Credential Manager accepts (`CRED_MAX_CREDENTIAL_BLOB_SIZE`).
pub const WINDOWS_BLOB_LIMIT: usize = 2560;

/// Bytes per chunk, of every chunked record whichever OS wrote it (a head's count is checked
/// against it): under the Windows limit with room to spare.
pub const CHUNK_BYTES: usize = 2048;
const _: () = assert!(CHUNK_BYTES < WINDOWS_BLOB_LIMIT);

/// The largest record `os`'s keychain holds in one entry; `None` when one entry holds any
/// record (the record is then never chunked, so it stays one item rewritten in place).
pub const fn entry_limit(os: Os) -> Option<usize> {
    match os {
        Os::Windows => Some(CHUNK_BYTES),
        Os::MacOs | Os::Linux => None,
    }
}

/// The prefix that marks a head entry.
pub const HEAD_PREFIX: &str = "patchbay-chunked:v1:";

/// The parsed head of a chunked record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Random tag of this write, so a reader never mixes chunks of two writes.
    pub generation: String,
    /// How many chunk entries.
    pub count: usize,
    /// Total bytes of the record.
    pub len: usize,
    /// FNV-1a 64 of the record's bytes.
    pub checksum: u64,
}

impl Head {
    /// The head for `bytes` under a new `generation`.
    pub fn describe(bytes: &[u8], generation: String) -> Self {
        Self {
            generation,
            count: bytes.len().div_ceil(CHUNK_BYTES).max(1),
            len: bytes.len(),
            checksum: fnv1a64(bytes),
        }
    }

    /// The head's own bytes.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{HEAD_PREFIX}{}:{}:{}:{:016x}",
            self.generation, self.count, self.len, self.checksum
        )
        .into_bytes()
    }

    /// A head, or `None` when `bytes` is a plain (unchunked) value.
    pub fn parse(bytes: &[u8]) -> Option<Result<Self, String>> {
        let rest = bytes.strip_prefix(HEAD_PREFIX.as_bytes())?;
        let parsed = std::str::from_utf8(rest)
            .ok()
            .and_then(|rest| {
                let mut parts = rest.split(':');
                let generation = parts.next()?.to_owned();
                let count = parts.next()?.parse().ok()?;
                let len = parts.next()?.parse().ok()?;
                let checksum = u64::from_str_radix(parts.next()?, 16).ok()?;
                let valid = parts.next().is_none()
                    && !generation.is_empty()
                    && generation.chars().all(|c| c.is_ascii_alphanumeric())
                    && count >= 1
                    && count == usize::div_ceil(len, CHUNK_BYTES).max(1);
                valid.then_some(Head {
                    generation,
                    count,
                    len,
                    checksum,
                })
            })
            .ok_or_else(|| "the chunk head is malformed".to_owned());
        Some(parsed)
    }

    /// The account of chunk `index` (1-based) of the record at `account`.
    pub fn chunk_account(&self, account: &str, index: usize) -> String {
        format!("{account}#{}.{index}", self.generation)
    }

    /// Every chunk account, in order.
    pub fn chunk_accounts(&self, account: &str) -> Vec<String> {
        (1..=self.count)
            .map(|i| self.chunk_account(account, i))
            .collect()
    }

    /// Join the chunks read back, checking length and checksum.
    pub fn join(&self, chunks: Vec<Vec<u8>>) -> Result<Vec<u8>, String> {
        let bytes: Vec<u8> = chunks.concat();
        if bytes.len() != self.len {
            return Err(format!(
                "the chunks hold {} bytes, the head says {}",
                bytes.len(),
                self.len
            ));
        }
        if fnv1a64(&bytes) != self.checksum {
            return Err("the chunks do not match the head's checksum".to_owned());
        }
        Ok(bytes)
    }
}

/// Whether `bytes` must be chunked under `limit` (an [`entry_limit`]): too large for one
/// entry, or looking like a head.
pub fn needs_chunks(bytes: &[u8], limit: Option<usize>) -> bool {
    limit.is_some_and(|limit| bytes.len() > limit) || bytes.starts_with(HEAD_PREFIX.as_bytes())
}

/// `bytes` cut into chunks of at most [`CHUNK_BYTES`].
pub fn split(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return vec![bytes];
    }
    bytes.chunks(CHUNK_BYTES).collect()
}

/// A random generation tag (8 bytes, hex).
pub fn new_generation() -> String {
    crate::secret::random_hex(8).unwrap_or_else(|_| {
        // A clock-based tag still tells two writes apart; it only has to be unique per account.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{:016x}", nanos as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trips_and_rejects_garbage() {
        let bytes = vec![b'x'; CHUNK_BYTES * 2 + 5];
        let head = Head::describe(&bytes, "ab12".into());
        assert_eq!(head.count, 3, "two full chunks and a tail");
        let encoded = head.encode();
        assert!(encoded.len() < WINDOWS_BLOB_LIMIT);
        assert_eq!(Head::parse(&encoded), Some(Ok(head.clone())));
        assert_eq!(Head::parse(b"plain value"), None, "a value is not a head");
        for bad in [
            "patchbay-chunked:v1:",
            "patchbay-chunked:v1:ab:3:10:00",
            "patchbay-chunked:v1:a/b:1:1:00",
            "patchbay-chunked:v1:ab:1:1:zz",
            "patchbay-chunked:v1:ab:1:1:00:extra",
        ] {
            assert!(
                matches!(Head::parse(bad.as_bytes()), Some(Err(_))),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn split_and_join_restore_the_bytes_and_catch_damage() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let head = Head::describe(&bytes, "g".into());
        let chunks: Vec<Vec<u8>> = split(&bytes).into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(chunks.len(), head.count);
        assert!(chunks.iter().all(|c| c.len() <= CHUNK_BYTES));
        assert_eq!(head.join(chunks.clone()).unwrap(), bytes);

        let mut swapped = chunks.clone();
        swapped.swap(0, 1);
        assert!(head.join(swapped).is_err(), "reordered chunks are caught");
        let mut short = chunks;
        short.pop();
        assert!(head.join(short).is_err(), "a missing chunk is caught");
    }

    #[test]
    fn only_windows_needs_chunks() {
        assert_eq!(entry_limit(Os::Windows), Some(CHUNK_BYTES));
        assert_eq!(
            entry_limit(Os::MacOs),
            None,
            "one keychain item per record: a new item is a new macOS access prompt"
        );
        assert_eq!(
            entry_limit(Os::Linux),
            None,
            "Secret Service takes any size"
        );
    }

    #[test]
    fn large_values_are_chunked_only_under_a_limit_and_lookalikes_always() {
        let windows = entry_limit(Os::Windows);
        assert!(needs_chunks(&vec![b'a'; CHUNK_BYTES + 1], windows));
        assert!(!needs_chunks(&vec![b'a'; CHUNK_BYTES], windows));
        for os in [Os::MacOs, Os::Linux] {
            assert!(
                !needs_chunks(&vec![b'a'; 64 * 1024], entry_limit(os)),
                "{os:?}"
            );
        }
        for os in [Os::Windows, Os::MacOs, Os::Linux] {
            let limit = entry_limit(os);
            assert!(needs_chunks(b"patchbay-chunked:v1:trick", limit), "{os:?}");
            assert!(!needs_chunks(b"sk-live-123", limit), "{os:?}");
        }
    }

    #[test]
    fn fnv_is_the_published_function() {
        // Test vectors of FNV-1a 64.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
