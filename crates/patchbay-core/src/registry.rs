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

pub mod link;
pub mod plan;
pub mod record;

use std::time::Duration;

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
    /// Whether the results come from the shipped snapshot (no registry answered).
    pub from_snapshot: bool,
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
}

impl Registries {
    /// Ask `bases` (API base URLs, the config's `[catalog] registries`).
    pub fn new(bases: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { bases, http }
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
                Err(err) => search.failed.push((base.clone(), err)),
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
                Err(err) => failed.push(format!("{base}: {err}")),
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
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url =
                reqwest::Url::parse(&format!("{}/v0.1/servers", base.trim_end_matches('/')))
                    .map_err(|err| format!("`{base}` is not a URL: {err}"))?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("limit", &PAGE_SIZE.to_string());
                query.append_pair("version", "latest");
                if !term.is_empty() {
                    query.append_pair("search", term);
                }
                if let Some(cursor) = &cursor {
                    query.append_pair("cursor", cursor);
                }
            }
            let page = self
                .fetch::<ServerList>(url.as_str())
                .await?
                .ok_or_else(|| "it has no `/v0.1/servers`".to_owned())?;
            records.extend(page.servers);
            match page.metadata.next_cursor.filter(|c| !c.is_empty()) {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(records),
            }
        }
        Ok(records)
    }

    /// GET `url` as JSON; `None` for 404.
    async fn fetch<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<Option<T>, String> {
        crate::config::check_remote_url(url)?;
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| crate::human::error_chain(&err))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("it answered HTTP {status}"));
        }
        let body = crate::body::read(response, MAX_PAGE_BYTES)
            .await
            .map_err(|err| err.to_string())?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|err| format!("its answer is not a registry page: {err}"))
    }
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
