//! Each registry's whole listing (the latest version of every server), kept on disk by the
//! hub's background refresh (`<cache>/registry/<hash of the base URL>.json`) with the
//! validators its answer carried (`ETag`, `Last-Modified`), so the next refresh asks "changed
//! since?" and an unchanged registry answers 304 without a body. Search falls back to it when
//! a registry cannot be reached: fresher than the snapshot shipped with Patchbay. An
//! unreadable or foreign file counts as none.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::record::ServerResponse;

/// One registry's listing as last read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Listing {
    /// The registry's base URL.
    pub base: String,
    /// Its `ETag` then, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its `Last-Modified` then, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// When it was last read or found unchanged (Unix seconds).
    pub checked_at: u64,
    /// The records.
    pub records: Vec<ServerResponse>,
}

/// Where `base`'s listing is kept under `dir`.
fn file(dir: &Path, base: &str) -> PathBuf {
    let hash = crate::names::fnv1a64(base.trim_end_matches('/').as_bytes());
    dir.join(format!("{hash:016x}.json"))
}

/// `base`'s listing, when one is kept.
pub fn load(dir: &Path, base: &str) -> Option<Listing> {
    let text = fs_err::read_to_string(file(dir, base)).ok()?;
    serde_json::from_str::<Listing>(&text)
        .ok()
        .filter(|l| l.base == base)
}

/// Keep `listing`.
pub fn store(dir: &Path, listing: &Listing) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(listing).map_err(std::io::Error::other)?;
    crate::files::write_atomically_in_new_dir(&file(dir, &listing.base), &bytes)
}
