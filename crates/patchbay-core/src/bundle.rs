//! `.mcpb` bundles (MCP Bundles): a zip holding a server and its `manifest.json`, made a plain
//! stdio server entry behind the hub.
//!
//! The path, for `patchbay add --mcpb FILE`, a file opened in the window (the hub's
//! `/catalog/bundle`) and a registry record's `mcpb` package alike: [`read`] takes a file by its
//! absolute path; [`Bundle::open`] checks the archive ([`archive`]) and the manifest
//! ([`manifest`]); [`adding`] names the server, asks what `user_config` leaves to the user
//! ([`questions`]) and renders the exact entry ([`render`]), refusing what it cannot run
//! honestly; only after the user said yes does [`install`] unpack it, to a temporary directory beside `bundles/NAME` that is renamed
//! into place, so a refusal leaves nothing behind. The entry records the directory
//! (`bundle = {name, version, dir}`) so removing the server deletes it ([`remove`]).
//!
//! Values are held to the registry's rules ([`crate::registry::plan::safe`]: no shell
//! metacharacter, no line break); a sensitive value goes to the keychain through `secret_env`,
//! and one the bundle would put on a command line is refused. A signature is verified and its
//! signer named, or the bundle refused ([`signature`]; no chain to trusted roots). Runtime version ranges are held against the runtimes
//! found before anything is unpacked ([`runtime`]).

pub mod archive;
pub mod manifest;
pub mod range;
pub mod render;
pub mod runtime;
pub mod signature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{BundleSource, Config, ConfigError, ServerConfig};
use crate::paths::Paths;
use crate::platform::Os;
use crate::registry::plan::{self, Adding, PlanError, Planned, Question};
use archive::{Archive, ArchiveError, Signature};
use manifest::{DefaultValue, Manifest, ManifestError, OptionKind, UserOption};
use render::{Facts, RenderError, Value};

/// Largest bundle downloaded for a registry record.
pub const MAX_DOWNLOAD: usize = 256 * 1024 * 1024;

/// Why a bundle cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The archive was refused.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Its `mcp_config` cannot be run as written.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A value holds a shell metacharacter or a line break.
    #[error(transparent)]
    Unsafe(#[from] PlanError),
    /// The local name is not valid or is taken.
    #[error(transparent)]
    Name(#[from] ConfigError),
    /// A runtime it needs is missing or outside its range.
    #[error(transparent)]
    Runtime(#[from] Box<runtime::RuntimeError>),
    /// Not for this platform.
    #[error("`{name}` runs on {platforms}, not on {here}")]
    Platform {
        /// The bundle.
        name: String,
        /// Where it runs.
        platforms: String,
        /// Here.
        here: &'static str,
    },
    /// The answers do not fit the questions.
    #[error("{0}")]
    Answers(String),
    /// The machine's folders are unknown.
    #[error("cannot find the home directory")]
    NoHome,
    /// The download failed.
    #[error("cannot download the bundle `{url}`: {why}")]
    Download {
        /// From where.
        url: String,
        /// What failed.
        why: String,
    },
    /// The bytes are not the ones the record names.
    #[error("the bundle from `{url}` has SHA-256 {got}, not the {want} its record names; refused")]
    Digest {
        /// From where.
        url: String,
        /// The record's.
        want: String,
        /// The download's.
        got: String,
    },
    /// A bundle file was named by a relative path: whose folder it is relative to is unknown
    /// (the hub's is not the user's).
    #[error("the bundle file `{}` is not an absolute path", .0.display())]
    Relative(PathBuf),
    /// A bundle file larger than [`MAX_DOWNLOAD`].
    #[error("the bundle file `{}` is larger than {} MiB; refused", .0.display(), MAX_DOWNLOAD / 1024 / 1024)]
    TooLarge(PathBuf),
    /// Unpacking or deleting on disk failed.
    #[error("cannot {what} {}", .path.display())]
    Disk {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A bundle read and checked, not yet unpacked.
#[derive(Debug)]
pub struct Bundle {
    /// Its manifest.
    pub manifest: Manifest,
    archive: Archive,
}

impl Bundle {
    /// The bundle in `bytes`: its entries and its manifest checked.
    pub fn open(bytes: Vec<u8>) -> Result<Self, BundleError> {
        let mut archive = Archive::open(bytes)?;
        let manifest = manifest::parse(&archive.manifest()?)?;
        Ok(Self { manifest, archive })
    }

    /// Whether it is signed, and by whom (a signature that did not match refused it at
    /// [`Bundle::open`]).
    pub fn signature(&self) -> Signature {
        self.archive.signature.clone()
    }
}

/// The values `manifest` asks the user for, in its `user_config` order.
pub fn questions(manifest: &Manifest, facts: &Facts) -> Vec<Question> {
    (manifest.user_config.iter())
        .map(|(key, option)| Question {
            name: key.clone(),
            description: Some(format!("{}: {}", option.title, option.description)),
            secret: option.sensitive,
            default: shown_default(option, facts),
            choices: match option.kind {
                OptionKind::Boolean => vec!["true".into(), "false".into()],
                _ => Vec::new(),
            },
        })
        .collect()
}

/// The separator of several paths in one answer: the platform's `PATH` separator.
fn list_separator(os: Os) -> char {
    match os {
        Os::Windows => ';',
        _ => ':',
    }
}

fn number_text(n: f64) -> String {
    match n.fract() == 0.0 && n.abs() < 1e15 {
        true => format!("{}", n as i64),
        false => n.to_string(),
    }
}

fn default_value(option: &UserOption, facts: &Facts) -> Result<Option<Value>, RenderError> {
    Ok(match &option.default {
        None => None,
        Some(DefaultValue::Text(t)) if option.multiple => {
            Some(Value::Many(vec![render::folders(t, facts)?]))
        }
        Some(DefaultValue::Text(t)) => Some(Value::One(render::folders(t, facts)?)),
        Some(DefaultValue::Number(n)) => Some(Value::One(number_text(*n))),
        Some(DefaultValue::Bool(b)) => Some(Value::One(b.to_string())),
        Some(DefaultValue::List(items)) => Some(Value::Many(
            (items.iter())
                .map(|t| render::folders(t, facts))
                .collect::<Result<_, _>>()?,
        )),
    })
}

fn shown_default(option: &UserOption, facts: &Facts) -> Option<String> {
    match default_value(option, facts).ok()?? {
        Value::One(v) => Some(v),
        Value::Many(vs) => Some(vs.join(&list_separator(facts.os).to_string())),
    }
}

/// Each option's value from `answers` (in [`questions`] order; empty takes the default).
fn values(
    manifest: &Manifest,
    facts: &Facts,
    answers: &[String],
) -> Result<BTreeMap<String, Value>, BundleError> {
    if answers.len() != manifest.user_config.len() {
        return Err(BundleError::Answers(format!(
            "{} values asked, {} given",
            manifest.user_config.len(),
            answers.len()
        )));
    }
    let mut values = BTreeMap::new();
    for ((key, option), answer) in manifest.user_config.iter().zip(answers) {
        let bad = |why: String| BundleError::Answers(format!("`{key}` {why}"));
        let value = match answer.is_empty() {
            true => default_value(option, facts)?,
            false if option.multiple => Some(Value::Many(
                (answer.split(list_separator(facts.os)))
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            false => Some(Value::One(answer.clone())),
        };
        let Some(value) = value else {
            if option.required {
                return Err(bad("needs a value".into()));
            }
            continue;
        };
        let items = match &value {
            Value::One(v) => std::slice::from_ref(v),
            Value::Many(vs) => vs.as_slice(),
        };
        if option.required && items.iter().all(String::is_empty) {
            return Err(bad("needs a value".into()));
        }
        for item in items {
            // The bundle's own defaults may name folders not made yet; answers must exist.
            check_value(option, item, !answer.is_empty()).map_err(bad)?;
            if !option.sensitive {
                plan::safe(&format!("value for `{key}`"), item)?;
            }
        }
        values.insert(key.clone(), value);
    }
    Ok(values)
}

/// Whether `value` fits `option`'s type: a number within its bounds, `true`/`false`, an
/// existing directory or file (when `given` by the user).
fn check_value(option: &UserOption, value: &str, given: bool) -> Result<(), String> {
    match option.kind {
        OptionKind::String => Ok(()),
        OptionKind::Number => {
            let n: f64 =
                (value.trim().parse()).map_err(|_| format!("takes a number, not `{value}`"))?;
            if option.min.is_some_and(|min| n < min) || option.max.is_some_and(|max| n > max) {
                let bound = |b: Option<f64>| b.map(number_text).unwrap_or_else(|| "-".into());
                return Err(format!(
                    "takes a number from {} to {}, not {value}",
                    bound(option.min),
                    bound(option.max)
                ));
            }
            Ok(())
        }
        OptionKind::Boolean => match value {
            "true" | "false" => Ok(()),
            _ => Err(format!("takes true or false, not `{value}`")),
        },
        OptionKind::Directory | OptionKind::File if !given => Ok(()),
        OptionKind::Directory if Path::new(value).is_dir() => Ok(()),
        OptionKind::Directory => Err(format!("takes an existing directory; `{value}` is not one")),
        OptionKind::File if Path::new(value).is_file() => Ok(()),
        OptionKind::File => Err(format!("takes an existing file; `{value}` is not one")),
    }
}

/// `manifest` made an entry that runs it from `dir` on the machine of `facts`, with
/// `answers` to its [`questions`]: its sensitive environment values for the keychain.
pub fn plan(
    manifest: &Manifest,
    dir: &Path,
    facts: &Facts,
    answers: &[String],
) -> Result<Planned, BundleError> {
    if !render::runs_on(manifest, facts.os) {
        return Err(BundleError::Platform {
            name: manifest.name.clone(),
            platforms: manifest.platforms.clone().unwrap_or_default().join(", "),
            here: render::platform_name(facts.os),
        });
    }
    let values = values(manifest, facts, answers)?;
    let dir_text = dir.to_string_lossy();
    let rendered = render::render(manifest, &dir_text, facts, &values)?;
    plan::safe("command", &rendered.command)?;
    for (n, arg) in rendered.args.iter().enumerate() {
        plan::safe(&format!("argument {}", n + 1), arg)?;
    }
    let mut server = ServerConfig::new(rendered.command, rendered.args);
    let mut secrets = BTreeMap::new();
    for (var, value) in rendered.env {
        let what = format!("environment variable `{var}`");
        if !crate::names::valid_env_var(&var) {
            return Err(PlanError::Invalid {
                what,
                value: var,
                kind: "variable name",
            }
            .into());
        }
        match rendered.sensitive_env.contains(&var) {
            true => {
                server.secret_env.push(var.clone());
                secrets.insert(var, value);
            }
            false => {
                plan::safe(&what, &value)?;
                server.env.insert(var, value);
            }
        }
    }
    server.cwd = Some(dir.to_owned());
    server.bundle = Some(BundleSource {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        dir: dir.to_owned(),
    });
    Ok(Planned { server, secrets })
}

/// `bundle` ready to be added to `config`: named `local` (valid and free) or after its
/// manifest's name, kept apart from the servers configured and the bundles unpacked, planned
/// to run from `bundles/NAME`, and its runtime ranges held against this machine's runtimes
/// ([`runtime::check`]): the entry, and what it needs with what was found, for the consent.
/// The one path from a bundle to an entry. It runs each runtime's `--version` and waits for
/// it: from async code, call it on a blocking thread.
pub fn adding(
    config: &Config,
    paths: &Paths,
    bundle: &Bundle,
    facts: &Facts,
    answers: &[String],
    local: Option<String>,
) -> Result<(Adding, Vec<runtime::Checked>), BundleError> {
    let probe = runtime::System::default();
    adding_with(config, paths, bundle, facts, answers, local, &probe)
}

/// [`adding`], the runtimes asked through `probe`.
pub fn adding_with(
    config: &Config,
    paths: &Paths,
    bundle: &Bundle,
    facts: &Facts,
    answers: &[String],
    local: Option<String>,
    probe: &dyn runtime::Probe,
) -> Result<(Adding, Vec<runtime::Checked>), BundleError> {
    let taken = |n: &str| config.servers.contains_key(n) || paths.bundle(n).exists();
    let name = match local {
        Some(name) if !crate::names::valid_server_name(&name) => {
            return Err(ConfigError::InvalidName(name).into());
        }
        Some(name) if taken(&name) => return Err(ConfigError::Exists(name).into()),
        Some(name) => name,
        None => {
            let base = crate::names::server_name_like(&bundle.manifest.name)
                .unwrap_or_else(|| "bundle".into());
            crate::names::unused_name(&base, taken)
        }
    };
    let dir = std::path::absolute(paths.bundle(&name)).map_err(|source| BundleError::Disk {
        what: "find",
        path: paths.bundle(&name),
        source,
    })?;
    let mut planned = plan(&bundle.manifest, &dir, facts, answers)?;
    let needs = runtime::check(
        &bundle.manifest,
        &planned.server.command,
        &dir,
        facts.os,
        probe,
    )
    .map_err(Box::new)?;
    planned.server.start = config.hub.default_start;
    Ok((Adding { name, planned }, needs))
}

/// Whether `server` runs a program its bundle carries (under its `bundle.dir`): that program is
/// not there before the bundle is unpacked, so it is not looked for on `PATH`.
pub fn carries_command(server: &ServerConfig) -> bool {
    (server.bundle.as_ref()).is_some_and(|b| Path::new(&server.command).starts_with(&b.dir))
}

/// Unpack `bundle` for server `name` at `dir` (its entry's `bundle.dir`): into a temporary
/// directory beside it, then renamed into place, so a failure leaves nothing. Where Windows
/// keeps refusing the rename because a file just written is still held open, it is unpacked
/// again in place instead (removed again if that fails).
pub fn install(paths: &Paths, bundle: &mut Bundle, dir: &Path) -> Result<(), BundleError> {
    let disk = |what, path: &Path| {
        let path = path.to_owned();
        move |source| BundleError::Disk { what, path, source }
    };
    fs_err::create_dir_all(&paths.bundle_dir).map_err(disk("create", &paths.bundle_dir))?;
    let temporary = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(&paths.bundle_dir)
        .map_err(disk("create a directory in", &paths.bundle_dir))?;
    bundle.archive.unpack(temporary.path())?;
    if dir.exists() {
        return Err(ConfigError::Exists(dir.display().to_string()).into());
    }
    let unpacked = temporary.keep();
    // Patiently: on Windows a scanner may still be reading the files just written.
    let Err(err) = crate::files::rename_patiently(&unpacked, dir) else {
        return Ok(());
    };
    let _ = fs_err::remove_dir_all(&unpacked);
    if !crate::files::held_open(&err, cfg!(windows)) {
        return Err(BundleError::Disk {
            what: "move the unpacked bundle to",
            path: dir.to_owned(),
            source: err,
        });
    }
    // Still held open (seen under wine): unpacked again, in place; undone if that fails.
    bundle.archive.unpack(dir).inspect_err(|_| {
        let _ = fs_err::remove_dir_all(dir);
    })?;
    Ok(())
}

/// Delete the unpacked bundle of an entry; only a directory under `bundles/` is deleted,
/// whatever a hand-edited config says.
pub fn remove(paths: &Paths, source: &BundleSource) -> Result<(), BundleError> {
    let root = std::path::absolute(&paths.bundle_dir).unwrap_or_else(|_| paths.bundle_dir.clone());
    let inside = source.dir.parent() == Some(root.as_path())
        || source.dir.parent() == Some(&paths.bundle_dir);
    if !inside {
        return Err(BundleError::Disk {
            what: "delete (not under Patchbay's bundles directory)",
            path: source.dir.clone(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
    }
    match fs_err::remove_dir_all(&source.dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|source_err| BundleError::Disk {
            what: "delete",
            path: source.dir.clone(),
            source: source_err,
        }),
    }
}

/// The bytes of the bundle file at `path` (absolute), refused over [`MAX_DOWNLOAD`]: what
/// `patchbay add --mcpb` and the window read before [`Bundle::open`].
pub fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    if !path.is_absolute() {
        return Err(BundleError::Relative(path.to_owned()));
    }
    let disk = |source| BundleError::Disk {
        what: "read",
        path: path.to_owned(),
        source,
    };
    let size = fs_err::metadata(path).map_err(disk)?.len();
    if size > MAX_DOWNLOAD as u64 {
        return Err(BundleError::TooLarge(path.to_owned()));
    }
    fs_err::read(path).map_err(disk)
}

/// The bundle at `url` as [`download`] gets it, kept in the downloads folder by its SHA-256:
/// the consent view reads a registry's bundle for its questions, then to preview, then to
/// add, and downloads it once. A kept file is checked against `sha256` again, and downloaded
/// anew when it does not match.
pub async fn fetch(paths: &Paths, url: &str, sha256: &str) -> Result<Vec<u8>, BundleError> {
    let kept = paths
        .bundle_downloads()
        .join(format!("{}.mcpb", sha256.trim().to_ascii_lowercase()));
    let valid_name =
        sha256.trim().len() == 64 && sha256.trim().chars().all(|c| c.is_ascii_hexdigit());
    if valid_name && let Ok(bytes) = std::fs::read(&kept) {
        if sha256_hex(&bytes).eq_ignore_ascii_case(sha256.trim()) {
            return Ok(bytes);
        }
        let _ = std::fs::remove_file(&kept);
    }
    let bytes = download(url, sha256).await?;
    if valid_name && let Err(err) = crate::files::write_atomically_in_new_dir(&kept, &bytes) {
        tracing::warn!(
            "cannot keep the download of {url} in {}: {err}",
            kept.display()
        );
    }
    Ok(bytes)
}

/// The bytes at `url` (https, or http to loopback), refused unless their SHA-256 is
/// `sha256` (hex) and they fit [`MAX_DOWNLOAD`].
pub async fn download(url: &str, sha256: &str) -> Result<Vec<u8>, BundleError> {
    let failed = |why: String| BundleError::Download {
        url: url.to_owned(),
        why,
    };
    crate::config::check_remote_url(url).map_err(failed)?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = (http.get(url).send().await).map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("the server answered {}", response.status())));
    }
    let bytes =
        (crate::body::read(response, MAX_DOWNLOAD).await).map_err(|e| failed(e.to_string()))?;
    let got = sha256_hex(&bytes);
    if !got.eq_ignore_ascii_case(sha256.trim()) {
        return Err(BundleError::Digest {
            url: url.to_owned(),
            want: sha256.to_owned(),
            got,
        });
    }
    Ok(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_download_is_used_once_its_hash_is_checked_again() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        let bytes = b"a bundle's bytes".to_vec();
        let sha = sha256_hex(&bytes);
        let kept = paths.bundle_downloads().join(format!("{sha}.mcpb"));
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        std::fs::write(&kept, &bytes).unwrap();
        // Nothing listens there: the kept file is the answer.
        let url = "http://127.0.0.1:1/weather.mcpb";
        assert_eq!(
            fetch(&paths, url, &sha.to_uppercase()).await.unwrap(),
            bytes
        );

        // A kept file changed since is not used: it is dropped and the download tried.
        std::fs::write(&kept, b"something else").unwrap();
        let err = fetch(&paths, url, &sha).await.unwrap_err();
        assert!(matches!(err, BundleError::Download { .. }), "{err}");
        assert!(!kept.exists(), "the changed file is not kept");
    }
    use archive::tests::zip_of;
    use manifest::tests::good;
    use runtime::tests::Fake;
    use serde_json::json;

    /// `adding` on a machine whose node prints `v20.11.1`.
    fn adding(
        config: &Config,
        paths: &Paths,
        bundle: &Bundle,
        facts: &Facts,
        answers: &[String],
        local: Option<String>,
    ) -> Result<Adding, BundleError> {
        let node = Fake::printing(&[("node", "v20.11.1\n")]);
        adding_with(config, paths, bundle, facts, answers, local, &node).map(|(adding, _)| adding)
    }

    fn facts() -> Facts {
        Facts {
            os: Os::Linux,
            home: "/home/ada".into(),
            desktop: None,
            documents: None,
            downloads: None,
        }
    }

    fn bundle(manifest: serde_json::Value) -> Bundle {
        let text = manifest.to_string();
        Bundle::open(zip_of(&[
            ("manifest.json", text.as_bytes(), 0o100644),
            ("server/index.js", b"run()", 0o100644),
        ]))
        .unwrap()
    }

    #[test]
    fn a_bundle_becomes_an_entry_with_its_secret_apart() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        // A folder that exists on every machine and holds no drive colon (`C:\...` under wine
        // would be split where the Linux facts split several folders).
        let facts = facts();
        let b = bundle(good("0.4"));
        let dirs = ".".to_owned();
        let answers = ["s3cret".to_owned(), String::new(), dirs.clone(), "7".into()];
        let Adding { name, planned } =
            adding(&Config::default(), &paths, &b, &facts, &answers, None).unwrap();
        assert_eq!(name, "weather");
        let dir = std::path::absolute(paths.bundle("weather")).unwrap();
        let server = &planned.server;
        assert_eq!(server.command, "node");
        assert_eq!(
            server.args,
            [format!("{}/server/index.js", dir.display()), dirs]
        );
        assert_eq!(server.env["UNITS"], "metric", "the default");
        assert_eq!(server.secret_env, ["API_KEY"]);
        assert!(
            !server.env.contains_key("API_KEY"),
            "the secret is not in the entry"
        );
        assert_eq!(planned.secrets["API_KEY"], "s3cret");
        assert_eq!(server.bundle.as_ref().unwrap().dir, dir);
        assert_eq!(server.cwd.as_deref(), Some(dir.as_path()));
        assert!(!carries_command(server), "node is the machine's");
        let mut own = server.clone();
        own.command = dir.join("bin/weather").display().to_string();
        assert!(carries_command(&own), "a program inside the bundle");

        let too_many = ["k".to_owned(), String::new(), String::new(), "9".into()];
        let err = adding(&Config::default(), &paths, &b, &facts, &too_many, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("`days` takes a number from 1 to 7"),
            "{err}"
        );
        let unsafe_units = [
            "k".to_owned(),
            "a;rm -rf".into(),
            String::new(),
            String::new(),
        ];
        let err = adding(&Config::default(), &paths, &b, &facts, &unsafe_units, None);
        assert!(
            matches!(err, Err(BundleError::Unsafe(_))),
            "metacharacters refused"
        );
        let no_key = [String::new(), String::new(), String::new(), String::new()];
        let err = adding(&Config::default(), &paths, &b, &facts, &no_key, None).unwrap_err();
        assert!(err.to_string().contains("`key` needs a value"), "{err}");
    }

    #[test]
    fn a_bundle_needing_a_newer_runtime_is_refused_before_unpacking() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        let mut m = good("0.4");
        m["compatibility"]["runtimes"] = json!({"node": ">=22"});
        let answers = ["k".to_owned(), String::new(), String::new(), String::new()];
        let err = adding(
            &Config::default(),
            &paths,
            &bundle(m),
            &facts(),
            &answers,
            None,
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "`weather` needs node >=22, found 20.11.1"
        );
        assert!(!paths.bundle_dir.exists(), "nothing is unpacked");
    }

    #[test]
    fn a_bundle_for_another_platform_is_refused() {
        let mut m = good("0.3");
        m["compatibility"]["platforms"] = json!(["win32"]);
        let err = plan(&bundle(m).manifest, Path::new("/b"), &facts(), &[]).unwrap_err();
        assert!(
            matches!(err, BundleError::Platform { here: "linux", .. }),
            "{err}"
        );
    }

    #[test]
    fn installing_renames_into_place_and_removing_deletes_only_bundles() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::under(root.path());
        let mut b = bundle(good("0.2"));
        let dir = paths.bundle("weather");
        install(&paths, &mut b, &dir).unwrap();
        assert!(dir.join("server/index.js").is_file());
        let left: Vec<_> = std::fs::read_dir(&paths.bundle_dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary directory is left");
        let source = BundleSource {
            name: "weather".into(),
            version: "1".into(),
            dir: dir.clone(),
        };
        let elsewhere = BundleSource {
            dir: root.path().join("state"),
            ..source.clone()
        };
        std::fs::create_dir_all(&elsewhere.dir).unwrap();
        assert!(remove(&paths, &elsewhere).is_err(), "not under bundles/");
        assert!(elsewhere.dir.exists());
        remove(&paths, &source).unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn a_bundle_file_is_read_only_by_its_absolute_path() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("weather.mcpb");
        std::fs::write(&file, b"PK").unwrap();
        assert_eq!(read(&file).unwrap(), b"PK");
        let err = read(Path::new("weather.mcpb")).unwrap_err();
        assert!(matches!(err, BundleError::Relative(_)), "{err}");
        let err = read(&root.path().join("none.mcpb")).unwrap_err();
        assert!(
            matches!(err, BundleError::Disk { what: "read", .. }),
            "{err}"
        );
    }
}
