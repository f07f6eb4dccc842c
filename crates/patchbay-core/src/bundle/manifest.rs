//! A bundle's `manifest.json` (MCPB manifest versions 0.2 to 0.4), read and checked field by
//! field, so that a refusal names the field at fault (`server.mcp_config.command`).
//!
//! Only what Patchbay acts on is kept: the name and version, how the server runs
//! (`server.type`, `mcp_config` and its `platform_overrides`), what it asks the user
//! (`user_config`, in the manifest's order) and where it runs (`compatibility`). Other fields
//! (icons, tools, prompts, localization) are not checked beyond being there.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::range::Range;

/// The manifest versions read.
pub const VERSIONS: &[&str] = &["0.2", "0.3", "0.4"];

/// A manifest that checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `manifest_version` (or the older `dxt_version`).
    pub manifest_version: String,
    /// The bundle's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it says it does.
    pub description: String,
    /// `author.name`.
    pub author: String,
    /// How the server runs.
    pub server: Server,
    /// The platforms it runs on (`None`: all).
    pub platforms: Option<Vec<String>>,
    /// Runtime version ranges (`node`, `python`), read as npm reads them.
    pub runtimes: BTreeMap<String, Range>,
    /// What it asks the user, in the manifest's order.
    pub user_config: Vec<(String, UserOption)>,
}

/// `server`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// `node`, `python`, `binary` or `uv`.
    pub kind: ServerKind,
    /// `entry_point`.
    pub entry_point: String,
    /// `mcp_config`.
    pub mcp_config: McpConfig,
}

/// `server.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Node.js, dependencies bundled.
    Node,
    /// Python, dependencies bundled.
    Python,
    /// A compiled executable.
    Binary,
    /// Python run by uv from `pyproject.toml` (0.4).
    Uv,
}

impl ServerKind {
    /// The runtime program it needs on `PATH`, when it needs one.
    pub fn runtime(self) -> Option<&'static str> {
        match self {
            ServerKind::Node => Some("node"),
            ServerKind::Python => Some("python"),
            ServerKind::Uv => Some("uv"),
            ServerKind::Binary => None,
        }
    }
}

/// `mcp_config`, and its overrides by platform.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct McpConfig {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment.
    pub env: BTreeMap<String, String>,
    /// `platform_overrides`, by platform name (`darwin`, `win32`, `linux`).
    pub platform_overrides: BTreeMap<String, Override>,
}

/// One entry of `platform_overrides`: each field given replaces the base one whole.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Override {
    /// Replaces `command`.
    pub command: Option<String>,
    /// Replaces `args`.
    pub args: Option<Vec<String>>,
    /// Replaces `env`.
    pub env: Option<BTreeMap<String, String>>,
}

/// One `user_config` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct UserOption {
    /// What kind of value.
    pub kind: OptionKind,
    /// Its title.
    pub title: String,
    /// Its help text.
    pub description: String,
    /// Whether a value is needed.
    pub required: bool,
    /// The value taken without an answer.
    pub default: Option<DefaultValue>,
    /// Several values (directories and files).
    pub multiple: bool,
    /// A secret: kept in the keychain, never echoed.
    pub sensitive: bool,
    /// Bounds of a number.
    pub min: Option<f64>,
    /// Bounds of a number.
    pub max: Option<f64>,
}

/// `user_config.*.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// Text.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A directory's path.
    Directory,
    /// A file's path.
    File,
}

/// `user_config.*.default`.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// Text (variables allowed).
    Text(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// Several paths (`multiple`).
    List(Vec<String>),
}

/// Why a manifest was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest field `{field}` {why}")]
pub struct ManifestError {
    /// The field, as a dotted path.
    pub field: String,
    /// What is wrong.
    pub why: String,
}

fn wrong(field: &str, why: impl Into<String>) -> ManifestError {
    ManifestError {
        field: field.to_owned(),
        why: why.into(),
    }
}

/// The manifest in `text`, checked.
pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
    let value: Value = serde_json::from_slice(text)
        .map_err(|err| wrong("manifest.json", format!("is not JSON: {err}")))?;
    let top = value
        .as_object()
        .ok_or_else(|| wrong("manifest.json", "is not a JSON object"))?;
    let manifest_version = match (top.get("manifest_version"), top.get("dxt_version")) {
        (Some(v), _) => text_at(v, "manifest_version")?,
        (None, Some(v)) => text_at(v, "dxt_version")?,
        (None, None) => return Err(wrong("manifest_version", "is missing")),
    };
    if !VERSIONS.contains(&manifest_version.as_str()) {
        return Err(wrong(
            "manifest_version",
            format!(
                "is `{manifest_version}`; Patchbay reads {}",
                VERSIONS.join(", ")
            ),
        ));
    }
    let author = object(top, "author", "author")?;
    let server = object(top, "server", "server")?;
    let kind = match required_text(server, "type", "server.type")?.as_str() {
        "node" => ServerKind::Node,
        "python" => ServerKind::Python,
        "binary" => ServerKind::Binary,
        "uv" if manifest_version == "0.4" => ServerKind::Uv,
        "uv" => return Err(wrong("server.type", "is `uv`, which needs manifest 0.4")),
        other => {
            return Err(wrong(
                "server.type",
                format!("is `{other}`; one of node, python, binary, uv"),
            ));
        }
    };
    let mcp = object(server, "mcp_config", "server.mcp_config")?;
    let mut platform_overrides = BTreeMap::new();
    if let Some(overrides) = mcp.get("platform_overrides") {
        let field = "server.mcp_config.platform_overrides";
        let overrides = overrides
            .as_object()
            .ok_or_else(|| wrong(field, "is not an object"))?;
        for (platform, o) in overrides {
            let at = format!("{field}.{platform}");
            let o = o
                .as_object()
                .ok_or_else(|| wrong(&at, "is not an object"))?;
            let command = match o.get("command") {
                Some(v) => Some(text_at(v, &format!("{at}.command"))?),
                None => None,
            };
            let args = match o.get("args") {
                Some(v) => Some(texts(v, &format!("{at}.args"))?),
                None => None,
            };
            let env = match o.get("env") {
                Some(v) => Some(text_map(v, &format!("{at}.env"))?),
                None => None,
            };
            platform_overrides.insert(platform.clone(), Override { command, args, env });
        }
    }
    let mcp_config = McpConfig {
        command: required_text(mcp, "command", "server.mcp_config.command")?,
        args: optional(mcp, "args", "server.mcp_config.args", texts)?.unwrap_or_default(),
        env: optional(mcp, "env", "server.mcp_config.env", text_map)?.unwrap_or_default(),
        platform_overrides,
    };
    let (platforms, runtimes) = compatibility(top)?;
    let mut user_config = Vec::new();
    if let Some(options) = top.get("user_config") {
        let options = options
            .as_object()
            .ok_or_else(|| wrong("user_config", "is not an object"))?;
        for (key, option) in options {
            user_config.push((key.clone(), user_option(key, option)?));
        }
    }
    Ok(Manifest {
        manifest_version,
        name: required_text(top, "name", "name")?,
        version: required_text(top, "version", "version")?,
        description: required_text(top, "description", "description")?,
        author: required_text(author, "name", "author.name")?,
        server: Server {
            kind,
            entry_point: required_text(server, "entry_point", "server.entry_point")?,
            mcp_config,
        },
        platforms,
        runtimes,
        user_config,
    })
}

type Compatibility = (Option<Vec<String>>, BTreeMap<String, Range>);

fn compatibility(top: &Map<String, Value>) -> Result<Compatibility, ManifestError> {
    let Some(c) = top.get("compatibility") else {
        return Ok((None, BTreeMap::new()));
    };
    let c = c
        .as_object()
        .ok_or_else(|| wrong("compatibility", "is not an object"))?;
    let platforms = optional(c, "platforms", "compatibility.platforms", texts)?;
    for platform in platforms.iter().flatten() {
        if !["darwin", "win32", "linux"].contains(&platform.as_str()) {
            return Err(wrong(
                "compatibility.platforms",
                format!("names `{platform}`; one of darwin, win32, linux"),
            ));
        }
    }
    let runtimes = optional(c, "runtimes", "compatibility.runtimes", text_map)?.unwrap_or_default();
    if let Some(other) = runtimes
        .keys()
        .find(|k| !["node", "python"].contains(&k.as_str()))
    {
        return Err(wrong(
            &format!("compatibility.runtimes.{other}"),
            "is not a runtime the format knows (node, python)",
        ));
    }
    let runtimes = (runtimes.into_iter())
        .map(|(runtime, text)| match Range::parse(&text) {
            Ok(range) => Ok((runtime, range)),
            Err(err) => Err(wrong(
                &format!("compatibility.runtimes.{runtime}"),
                format!("is `{text}`: {err}"),
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok((platforms, runtimes))
}

fn user_option(key: &str, value: &Value) -> Result<UserOption, ManifestError> {
    let at = format!("user_config.{key}");
    if key.is_empty() || key.contains(['}', '$', '{']) {
        return Err(wrong(
            &at,
            "has a name that cannot be used as `${user_config.NAME}`",
        ));
    }
    let o = value
        .as_object()
        .ok_or_else(|| wrong(&at, "is not an object"))?;
    let kind = match required_text(o, "type", &format!("{at}.type"))?.as_str() {
        "string" => OptionKind::String,
        "number" => OptionKind::Number,
        "boolean" => OptionKind::Boolean,
        "directory" => OptionKind::Directory,
        "file" => OptionKind::File,
        other => {
            return Err(wrong(
                &format!("{at}.type"),
                format!("is `{other}`; one of string, number, boolean, directory, file"),
            ));
        }
    };
    let flag = |name: &str| -> Result<bool, ManifestError> {
        match o.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(wrong(&format!("{at}.{name}"), "is not true or false")),
        }
    };
    let number = |name: &str| -> Result<Option<f64>, ManifestError> {
        match o.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(wrong(&format!("{at}.{name}"), "is not a number")),
        }
    };
    let multiple = flag("multiple")?;
    if multiple && !matches!(kind, OptionKind::Directory | OptionKind::File) {
        return Err(wrong(
            &format!("{at}.multiple"),
            "is only for directory and file values",
        ));
    }
    let (min, max) = (number("min")?, number("max")?);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(wrong(&format!("{at}.min"), "is above its max"));
    }
    let default_at = format!("{at}.default");
    let default = match (o.get("default"), kind) {
        (None, _) => None,
        (Some(Value::Number(n)), OptionKind::Number) => n.as_f64().map(DefaultValue::Number),
        (Some(Value::Bool(b)), OptionKind::Boolean) => Some(DefaultValue::Bool(*b)),
        (Some(Value::String(s)), OptionKind::String | OptionKind::Directory | OptionKind::File) => {
            Some(DefaultValue::Text(s.clone()))
        }
        (Some(v @ Value::Array(_)), OptionKind::Directory | OptionKind::File) if multiple => {
            Some(DefaultValue::List(texts(v, &default_at)?))
        }
        (Some(_), _) => {
            return Err(wrong(&default_at, "does not fit the option's type"));
        }
    };
    Ok(UserOption {
        kind,
        title: required_text(o, "title", &format!("{at}.title"))?,
        description: required_text(o, "description", &format!("{at}.description"))?,
        required: flag("required")?,
        default,
        multiple,
        sensitive: flag("sensitive")?,
        min,
        max,
    })
}

fn object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a Map<String, Value>, ManifestError> {
    match parent.get(key) {
        None => Err(wrong(field, "is missing")),
        Some(v) => v
            .as_object()
            .ok_or_else(|| wrong(field, "is not an object")),
    }
}

fn required_text(
    parent: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<String, ManifestError> {
    match parent.get(key) {
        None => Err(wrong(field, "is missing")),
        Some(v) => text_at(v, field),
    }
}

fn optional<T>(
    parent: &Map<String, Value>,
    key: &str,
    field: &str,
    read: fn(&Value, &str) -> Result<T, ManifestError>,
) -> Result<Option<T>, ManifestError> {
    parent.get(key).map(|v| read(v, field)).transpose()
}

fn text_at(value: &Value, field: &str) -> Result<String, ManifestError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::String(_) => Err(wrong(field, "is empty")),
        _ => Err(wrong(field, "is not a string")),
    }
}

fn texts(value: &Value, field: &str) -> Result<Vec<String>, ManifestError> {
    let items = value
        .as_array()
        .ok_or_else(|| wrong(field, "is not a list"))?;
    (items.iter().enumerate())
        .map(|(n, v)| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(wrong(&format!("{field}[{n}]"), "is not a string")),
        })
        .collect()
}

fn text_map(value: &Value, field: &str) -> Result<BTreeMap<String, String>, ManifestError> {
    let map = value
        .as_object()
        .ok_or_else(|| wrong(field, "is not an object"))?;
    (map.iter())
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(wrong(&format!("{field}.{k}"), "is not a string")),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A manifest of `version` with every field Patchbay reads.
    pub(crate) fn good(version: &str) -> Value {
        json!({
            "manifest_version": version,
            "name": "weather",
            "version": "1.0.0",
            "description": "Weather",
            "author": {"name": "Ada"},
            "server": {
                "type": "node",
                "entry_point": "server/index.js",
                "mcp_config": {
                    "command": "node",
                    "args": ["${__dirname}/server/index.js", "${user_config.dirs}"],
                    "env": {"API_KEY": "${user_config.key}", "UNITS": "${user_config.units}"},
                    "platform_overrides": {"win32": {"command": "node.exe"}}
                }
            },
            "compatibility": {"platforms": ["linux", "darwin", "win32"], "runtimes": {"node": ">=18"}},
            "user_config": {
                "key": {"type": "string", "title": "Key", "description": "API key", "sensitive": true, "required": true},
                "units": {"type": "string", "title": "Units", "description": "Units", "default": "metric"},
                "dirs": {"type": "directory", "title": "Dirs", "description": "Dirs", "multiple": true, "default": ["${HOME}/a"]},
                "days": {"type": "number", "title": "Days", "description": "Days", "min": 1, "max": 7, "default": 3}
            }
        })
    }

    fn refused(value: Value) -> ManifestError {
        parse(value.to_string().as_bytes()).expect_err("refused")
    }

    #[test]
    fn manifests_of_each_version_read() {
        for version in VERSIONS {
            let m = parse(good(version).to_string().as_bytes()).expect(version);
            assert_eq!(m.manifest_version, *version);
            assert_eq!(m.server.kind, ServerKind::Node);
            let keys: Vec<&str> = m.user_config.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                ["key", "units", "dirs", "days"],
                "the manifest's order"
            );
            assert_eq!(
                m.server.mcp_config.platform_overrides["win32"]
                    .command
                    .as_deref(),
                Some("node.exe")
            );
        }
        let mut old = good("0.2");
        old.as_object_mut().unwrap().remove("manifest_version");
        old["dxt_version"] = json!("0.2");
        assert_eq!(
            parse(old.to_string().as_bytes()).unwrap().manifest_version,
            "0.2"
        );
    }

    #[test]
    fn a_bad_manifest_is_refused_naming_the_field() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "manifest_version",
                Box::new(|m| m["manifest_version"] = json!("0.1")),
            ),
            (
                "name",
                Box::new(|m| drop(m.as_object_mut().unwrap().remove("name"))),
            ),
            ("author.name", Box::new(|m| m["author"] = json!({}))),
            (
                "server.type",
                Box::new(|m| m["server"]["type"] = json!("ruby")),
            ),
            (
                "server.type",
                Box::new(|m| {
                    m["manifest_version"] = json!("0.3");
                    m["server"]["type"] = json!("uv");
                }),
            ),
            (
                "server.mcp_config",
                Box::new(|m| drop(m["server"].as_object_mut().unwrap().remove("mcp_config"))),
            ),
            (
                "server.mcp_config.command",
                Box::new(|m| m["server"]["mcp_config"]["command"] = json!(3)),
            ),
            (
                "server.mcp_config.args[1]",
                Box::new(|m| m["server"]["mcp_config"]["args"][1] = json!(true)),
            ),
            (
                "server.mcp_config.env.UNITS",
                Box::new(|m| m["server"]["mcp_config"]["env"]["UNITS"] = json!(1)),
            ),
            (
                "compatibility.platforms",
                Box::new(|m| m["compatibility"]["platforms"] = json!(["beos"])),
            ),
            (
                "user_config.key.type",
                Box::new(|m| m["user_config"]["key"]["type"] = json!("secret")),
            ),
            (
                "user_config.units.multiple",
                Box::new(|m| m["user_config"]["units"]["multiple"] = json!(true)),
            ),
            (
                "user_config.days.default",
                Box::new(|m| m["user_config"]["days"]["default"] = json!("three")),
            ),
            (
                "user_config.days.min",
                Box::new(|m| m["user_config"]["days"]["min"] = json!(9)),
            ),
            (
                "user_config.key.title",
                Box::new(|m| {
                    drop(
                        m["user_config"]["key"]
                            .as_object_mut()
                            .unwrap()
                            .remove("title"),
                    )
                }),
            ),
        ];
        for (field, break_it) in cases {
            let mut m = good("0.4");
            break_it(&mut m);
            assert_eq!(refused(m).field, field, "the refusal names `{field}`");
        }
        assert_eq!(
            parse(b"not json").unwrap_err().field,
            "manifest.json",
            "not JSON at all"
        );
    }
}
