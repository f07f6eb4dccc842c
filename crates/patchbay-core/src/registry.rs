//! The catalogue: servers found in the MCP Registry (the official one, or any that speaks its
//! API, `[catalog] registries`), and what adding one means.
//!
//! - [`record`]: the registry's records, as its API (v0.1) answers them.
//! - [`Registries`]: searching them (pages followed, bounded; the latest version of each
//!   server; several registries merged by name, the first listed winning) and reading one
//!   record, falling back to the snapshot shipped with Patchbay when none can be reached.
//! - [`plan`]: a record made a server entry, what the user is asked first, and what is refused.
//! - [`link`]: install links (`patchbay://install?...`), a registry name or a whole server,
//!   read into a record that takes the same plan.
//! - [`listing`]: each registry's whole listing, refreshed by the hub in the background with
//!   conditional requests ([`Registries::refresh`]), what search falls back to offline.

pub mod link;
pub mod listing;
pub mod plan;
pub mod record;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::vault::unix_seconds;

use record::{ServerList, ServerResponse};

/// The pages of one search followed at most, per registry.
pub const MAX_PAGES: usize = 20;

/// Records asked for per page.
const PAGE_SIZE: usize = 100;

/// The largest page read.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The snapshot shipped with Patchbay (`resources/registry/snapshot.json`, a page of the API;
/// the release workflow refreshes it with `scripts/registry-snapshot`): what search shows when
/// no registry can be reached.
const SNAPSHOT: &str = include_str!("../../../resources/registry/snapshot.json");

/// A record found, and the registry it came from (`snapshot` for the shipped one).
#[derive(Debug, Clone)]
pub struct Found {
    /// The record.
    pub record: ServerResponse,
    /// The registry's base URL.
    pub registry: String,
}

/// What a search found, and the registries that could not be asked.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// The latest version of each server, registries in order, each registry's own order kept.
    pub found: Vec<Found>,
    /// Registries that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Whether the results come from the shipped snapshot (no registry answered, none kept).
    pub from_snapshot: bool,
    /// Registries that could not be asked whose kept listing was searched instead, with when
    /// it was last read (Unix seconds).
    pub from_listing: Vec<(String, u64)>,
}

/// What a refresh of one registry's listing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// It answered 304: the kept listing stands.
    Unchanged,
    /// It was read again: this many servers.
    Read(usize),
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No registry lists it.
    #[error("no registry lists `{0}`")]
    NotFound(String),
    /// Registries failed, and the snapshot does not have it.
    #[error("the registries could not be asked: {0}")]
    Unreachable(String),
}

/// The registries to ask, in order.
#[derive(Debug, Clone)]
pub struct Registries {
    bases: Vec<String>,
    http: reqwest::Client,
    /// Where their listings are kept ([`listing`]); none: not kept.
    listings: Option<PathBuf>,
}

/// A page's answer: not modified, not found, or the page with its validators.
enum Answer<T> {
    NotModified,
    NotFound,
    Body {
        value: T,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

impl Registries {
    /// Ask `bases` (API base URLs, the config's `[catalog] registries`).
    pub fn new(bases: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            bases,
            http,
            listings: None,
        }
    }

    /// The registries of `config`, with their listings kept under `paths`' cache.
    pub fn of(config: &crate::config::Config, paths: &crate::paths::Paths) -> Self {
        let mut registries = Self::new(config.catalog.registries.clone());
        registries.listings = Some(paths.registry_listings());
        registries
    }

    /// Read each registry's whole listing again, asking first whether it changed since the
    /// kept one (`If-None-Match`, `If-Modified-Since`), and keep it; per registry, what was
    /// done or why it failed. Bounded like a search ([`MAX_PAGES`], [`REQUEST_TIMEOUT`]).
    pub async fn refresh(&self) -> Vec<(String, Result<Refreshed, String>)> {
        let Some(dir) = &self.listings else {
            return Vec::new();
        };
        let mut done = Vec::new();
        for base in &self.bases {
            done.push((base.clone(), self.refresh_one(dir, base).await));
        }
        done
    }

    async fn refresh_one(&self, dir: &std::path::Path, base: &str) -> Result<Refreshed, String> {
        let kept = listing::load(dir, base);
        let first = page_url(base, "", None)?;
        let validators = kept
            .as_ref()
            .map(|k| (k.etag.clone(), k.last_modified.clone()));
        let (page, etag, last_modified) = match self.send::<ServerList>(&first, validators).await? {
            Answer::NotModified => {
                let mut kept = kept.ok_or("it answered 304 to an unconditional request")?;
                kept.checked_at = unix_seconds(SystemTime::now());
                listing::store(dir, &kept).map_err(|err| err.to_string())?;
                return Ok(Refreshed::Unchanged);
            }
            Answer::NotFound => return Err("it has no `/v0.1/servers`".to_owned()),
            Answer::Body {
                value,
                etag,
                last_modified,
            } => (value, etag, last_modified),
        };
        let records = self.pages(base, "", page).await?;
        let mut latest = Vec::new();
        merge(&mut latest, base, records);
        let fresh = listing::Listing {
            base: base.to_owned(),
            etag,
            last_modified,
            checked_at: unix_seconds(SystemTime::now()),
            records: latest.into_iter().map(|f| f.record).collect(),
        };
        listing::store(dir, &fresh).map_err(|err| err.to_string())?;
        Ok(Refreshed::Read(fresh.records.len()))
    }

    /// `base`'s kept listing, when there is one.
    fn kept(&self, base: &str) -> Option<listing::Listing> {
        listing::load(self.listings.as_ref()?, base)
    }

    /// Per server of `config` installed from the registry, the latest version in the kept
    /// listings when it is not the one installed (no request made: what the last refresh saw).
    pub fn updates(&self, config: &crate::config::Config) -> BTreeMap<String, String> {
        // The listings are read only for a config that has such servers.
        if config.servers.values().all(|s| s.registry.is_none()) {
            return BTreeMap::new();
        }
        let listings: Vec<listing::Listing> =
            (self.bases.iter()).filter_map(|b| self.kept(b)).collect();
        let latest = |name: &str| {
            (listings.iter().flat_map(|l| &l.records))
                .find(|r| r.server.name == name)
                .map(|r| r.server.version.clone())
        };
        (config.servers.iter())
            .filter_map(|(server, entry)| {
                let source = entry.registry.as_ref()?;
                let newer = latest(&source.name).filter(|v| *v != source.version)?;
                Some((server.clone(), newer))
            })
            .collect()
    }

    /// The latest version of every server whose name, title or description holds `term` (all
    /// of them for an empty term).
    pub async fn search(&self, term: &str) -> Search {
        let mut search = Search::default();
        let mut answered = false;
        for base in &self.bases {
            match self.search_one(base, term).await {
                Ok(records) => {
                    answered = true;
                    merge(&mut search.found, base, records);
                }
                Err(err) => {
                    if let Some(kept) = self.kept(base) {
                        answered = true;
                        let records = kept.records.into_iter().filter(|r| matches(r, term));
                        merge(&mut search.found, base, records.collect());
                        search.from_listing.push((base.clone(), kept.checked_at));
                    }
                    search.failed.push((base.clone(), err));
                }
            }
        }
        if !answered {
            let records = snapshot().into_iter().filter(|r| matches(r, term));
            merge(&mut search.found, "snapshot", records.collect());
            search.from_snapshot = true;
        }
        search
    }

    /// The record `name`, at `version` (the latest when none).
    pub async fn get(&self, name: &str, version: Option<&str>) -> Result<Found, RegistryError> {
        let mut failed = Vec::new();
        let version = version.unwrap_or("latest");
        for base in &self.bases {
            let url = format!(
                "{}/v0.1/servers/{}/versions/{}",
                base.trim_end_matches('/'),
                encode(name),
                encode(version)
            );
            match self.fetch::<ServerResponse>(&url).await {
                Ok(Some(record)) => {
                    return Ok(Found {
                        record,
                        registry: base.clone(),
                    });
                }
                Ok(None) => {}
                Err(err) => {
                    let kept = self.kept(base).into_iter().flat_map(|k| k.records);
                    let mut kept = kept.filter(|r| {
                        r.server.name == name
                            && (version == "latest" || r.server.version == version)
                    });
                    if let Some(record) = kept.next() {
                        return Ok(Found {
                            record,
                            registry: base.clone(),
                        });
                    }
                    failed.push(format!("{base}: {err}"));
                }
            }
        }
        let shipped = snapshot().into_iter().find(|r| {
            r.server.name == name && (version == "latest" || r.server.version == version)
        });
        match (shipped, failed.is_empty()) {
            (Some(record), false) => Ok(Found {
                record,
                registry: "snapshot".into(),
            }),
            (_, true) => Err(RegistryError::NotFound(name.to_owned())),
            (None, false) => Err(RegistryError::Unreachable(failed.join("; "))),
        }
    }

    async fn search_one(&self, base: &str, term: &str) -> Result<Vec<ServerResponse>, String> {
        let first = match self
            .send::<ServerList>(&page_url(base, term, None)?, None)
            .await?
        {
            Answer::Body { value, .. } => value,
            Answer::NotFound | Answer::NotModified => {
                return Err("it has no `/v0.1/servers`".to_owned());
            }
        };
        self.pages(base, term, first).await
    }

    /// The records of `first` and of the pages after it (at most [`MAX_PAGES`] in all).
    async fn pages(
        &self,
        base: &str,
        term: &str,
        first: ServerList,
    ) -> Result<Vec<ServerResponse>, String> {
        let mut records = Vec::new();
        let mut page = first;
        let mut cursor: Option<String> = None;
        for _ in 1..MAX_PAGES {
            records.extend(page.servers);
            match page.metadata.next_cursor.filter(|c| !c.is_empty()) {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(records),
            }
            page = self
                .fetch::<ServerList>(page_url(base, term, cursor.as_deref())?.as_str())
                .await?
                .ok_or_else(|| "it has no `/v0.1/servers`".to_owned())?;
        }
        records.extend(page.servers);
        Ok(records)
    }

    /// GET `url` as JSON; `None` for 404.
    async fn fetch<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<Option<T>, String> {
        let url = reqwest::Url::parse(url).map_err(|err| format!("`{url}` is not a URL: {err}"))?;
        match self.send(&url, None).await? {
            Answer::Body { value, .. } => Ok(Some(value)),
            Answer::NotFound => Ok(None),
            Answer::NotModified => Err("it answered 304 to an unconditional request".to_owned()),
        }
    }

    /// GET `url` as JSON, asking whether it changed since `validators` (`ETag`,
    /// `Last-Modified`) when given.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        url: &reqwest::Url,
        validators: Option<(Option<String>, Option<String>)>,
    ) -> Result<Answer<T>, String> {
        use reqwest::header;
        crate::config::check_remote_url(url.as_str())?;
        let mut request = (self.http.get(url.clone())).header(header::ACCEPT, "application/json");
        let (etag, since) = validators.unwrap_or_default();
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(since) = since {
            request = request.header(header::IF_MODIFIED_SINCE, since);
        }
        let response = request
            .send()
            .await
            .map_err(|err| crate::human::error_chain(&err))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Answer::NotModified);
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Answer::NotFound);
        }
        if !status.is_success() {
            return Err(format!("it answered HTTP {status}"));
        }
        let header = |name: header::HeaderName| {
            (response.headers().get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header(header::ETAG), header(header::LAST_MODIFIED));
        let body = crate::body::read(response, MAX_PAGE_BYTES)
            .await
            .map_err(|err| err.to_string())?;
        let value = serde_json::from_slice(&body)
            .map_err(|err| format!("its answer is not a registry page: {err}"))?;
        Ok(Answer::Body {
            value,
            etag,
            last_modified,
        })
    }
}

/// The URL of a page of `base`'s latest servers matching `term`, after `cursor`.
fn page_url(base: &str, term: &str, cursor: Option<&str>) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&format!("{}/v0.1/servers", base.trim_end_matches('/')))
        .map_err(|err| format!("`{base}` is not a URL: {err}"))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("limit", &PAGE_SIZE.to_string());
        query.append_pair("version", "latest");
        if !term.is_empty() {
            query.append_pair("search", term);
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
    }
    Ok(url)
}

/// The shipped snapshot's records.
pub fn snapshot() -> Vec<ServerResponse> {
    serde_json::from_str::<ServerList>(SNAPSHOT)
        .map(|list| list.servers)
        .unwrap_or_default()
}

/// Add `records` of `registry` to `found`: the latest version of each, active or deprecated,
/// and only names not found already.
fn merge(found: &mut Vec<Found>, registry: &str, records: Vec<ServerResponse>) {
    for record in records {
        let shown = record.is_latest() != Some(false) && record.status() != Some("deleted");
        if shown
            && !found
                .iter()
                .any(|f| f.record.server.name == record.server.name)
        {
            found.push(Found {
                record,
                registry: registry.to_owned(),
            });
        }
    }
}

/// Whether `record` matches `term` (case-insensitive, in its name, title or description).
fn matches(record: &ServerResponse, term: &str) -> bool {
    let term = term.to_lowercase();
    let server = &record.server;
    [
        Some(&server.name),
        server.title.as_ref(),
        Some(&server.description),
    ]
    .into_iter()
    .flatten()
    .any(|text| text.to_lowercase().contains(&term))
}

/// `text` as one URL path segment (a registry name holds a `/`).
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_snapshot_reads_and_every_record_in_it_can_be_planned() {
        let records = snapshot();
        assert!(records.len() >= 3, "a seed of well-known servers");
        for record in &records {
            let way = plan::choose(&record.server)
                .unwrap_or_else(|err| panic!("{}: {err}", record.server.name));
            let answers: Vec<String> = (plan::questions(way).iter())
                .map(|_| "x".to_owned())
                .collect();
            plan::plan(&record.server, way, &answers, true)
                .unwrap_or_else(|err| panic!("{}: {err}", record.server.name));
        }
    }

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(encode("io.github.acme/weather"), "io.github.acme%2Fweather");
        assert_eq!(encode("1.0.0"), "1.0.0");
    }
}
