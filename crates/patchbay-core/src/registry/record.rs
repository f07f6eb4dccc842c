//! The MCP Registry's records as its API (v0.1) answers them: a page of servers
//! ([`ServerList`]), each a `server.json` ([`ServerDetail`]) with the registry's own `_meta`.
//!
//! Read leniently (every member but the few the schema requires has a default), since a record
//! this code cannot use should still show in a search; what a record is used for is checked
//! where it is used ([`super::plan`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The registry's own metadata key on a record.
pub const OFFICIAL: &str = "io.modelcontextprotocol.registry/official";

/// One page of `GET /v0.1/servers`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ServerList {
    /// The records of this page.
    pub servers: Vec<ServerResponse>,
    /// Where the next page starts.
    #[serde(default)]
    pub metadata: ListMetadata,
}

/// A page's paging.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    /// The cursor of the next page; none on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A record: the server's `server.json`, and the registry's metadata about it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerResponse {
    /// What the publisher wrote.
    pub server: ServerDetail,
    /// The registry's metadata (`io.modelcontextprotocol.registry/official`: status, dates,
    /// whether this version is the latest).
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Map<String, Value>>,
}

impl ServerResponse {
    /// The registry's word on this version: `isLatest`, when it says.
    pub fn is_latest(&self) -> Option<bool> {
        self.official()?.get("isLatest")?.as_bool()
    }

    /// The registry's status of the record (`active`, `deprecated`, `deleted`).
    pub fn status(&self) -> Option<&str> {
        self.official()?.get("status")?.as_str()
    }

    fn official(&self) -> Option<&serde_json::Map<String, Value>> {
        self.meta.as_ref()?.get(OFFICIAL)?.as_object()
    }
}

/// A server's `server.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerDetail {
    /// Its registry name, `namespace/name` (`io.github.acme/weather`).
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its icons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
    /// Its website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    /// Where its source is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Value>,
    /// Packages that run it locally (stdio).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Package>,
    /// Endpoints where it runs remotely.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<Remote>,
    /// A command given whole by an install link ([`super::link`]). Never read from a record:
    /// a registry cannot make Patchbay run an arbitrary command.
    #[serde(skip)]
    pub command: Option<Command>,
}

/// A stdio command as an install link gives it: the program, its arguments, and its
/// environment (fixed values, or names to ask, secret ones for the vault).
#[derive(Debug, Clone, Default)]
pub struct Command {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment, in the order the values are asked.
    pub environment_variables: Vec<KeyValueInput>,
}

/// An icon of a server.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    /// Where it is (an https URL or a data URI).
    pub src: String,
    /// Its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The light or dark theme it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
}

/// A package that runs the server locally.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// Where it is published: `npm`, `pypi`, `oci`, `nuget`, `mcpb`.
    pub registry_type: String,
    /// Its name there (an npm or PyPI package, an image, a bundle's URL).
    pub identifier: String,
    /// The version to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A registry other than the type's public one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_base_url: Option<String>,
    /// The SHA-256 of a downloaded file (`mcpb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    /// The runtime that runs it, when not the type's usual one (`npx`, `uvx`, `docker`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_hint: Option<String>,
    /// How it is spoken to; `stdio` for a package the hub runs.
    #[serde(default)]
    pub transport: Transport,
    /// Arguments for the runtime, before the package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_arguments: Vec<Argument>,
    /// Arguments for the package itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub package_arguments: Vec<Argument>,
    /// Its environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_variables: Vec<KeyValueInput>,
}

/// A package's transport.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Transport {
    /// `stdio`, `streamable-http` or `sse`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its URL, for the HTTP ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            kind: "stdio".to_owned(),
            url: None,
        }
    }
}

/// A remote endpoint of the server.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Remote {
    /// `streamable-http` or `sse`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its URL (may hold `{variables}`).
    pub url: String,
    /// Headers it takes (an API key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<KeyValueInput>,
}

/// A value the user may have to give: its description, whether it is required or secret, its
/// default or fixed value.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it must be given.
    #[serde(default)]
    pub is_required: bool,
    /// Whether it is a secret (kept in the keychain).
    #[serde(default)]
    pub is_secret: bool,
    /// Its value when the user gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Its fixed value (may hold `{variables}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The values it may take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// `string`, `number`, `boolean` or `filepath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// An environment variable or header: a name and an [`Input`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyValueInput {
    /// The variable's or header's name.
    pub name: String,
    /// The value.
    #[serde(flatten)]
    pub input: Input,
}

/// A command-line argument: positional (`value` or a `valueHint` to ask about) or named
/// (`--name value`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    /// `positional` or `named`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A named argument's flag (`--port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What a positional argument stands for, to ask about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_hint: Option<String>,
    /// The value.
    #[serde(flatten)]
    pub input: Input,
}
