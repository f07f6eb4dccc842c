//! A manifest's `mcp_config` made the exact command, arguments and environment to run, as a
//! pure function of the manifest, the unpacked directory, the platform's facts and the user's
//! values, so every platform's result is tested on any one.
//!
//! As the MCPB reference does: the current platform's `platform_overrides` entry replaces
//! `command`, `args` and `env` each whole; `${__dirname}`, `${HOME}`, `${DESKTOP}`,
//! `${DOCUMENTS}`, `${DOWNLOADS}`, `${pathSeparator}` (`${/}`) and `${user_config.KEY}` are
//! substituted; a several-valued `user_config` standing alone in an argument becomes several
//! arguments. Stricter than the reference: an unknown variable, a several-valued one inside a
//! longer word, and a sensitive value anywhere but the environment are refused (a command line
//! is visible to every process of the machine; an environment value goes to the keychain).

use std::collections::{BTreeMap, BTreeSet};

use super::manifest::{Manifest, ServerKind};
use crate::platform::Os;

/// What rendering needs to know of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The platform.
    pub os: Os,
    /// `${HOME}`.
    pub home: String,
    /// `${DESKTOP}`, `${DOCUMENTS}`, `${DOWNLOADS}`, when the platform has them.
    pub desktop: Option<String>,
    /// See [`Facts::desktop`].
    pub documents: Option<String>,
    /// See [`Facts::desktop`].
    pub downloads: Option<String>,
}

impl Facts {
    /// This machine's, from `directories`.
    pub fn current() -> Option<Self> {
        let user = directories::UserDirs::new()?;
        let text = |p: Option<&std::path::Path>| p.map(|p| p.to_string_lossy().into_owned());
        Some(Self {
            os: Os::current(),
            home: user.home_dir().to_string_lossy().into_owned(),
            desktop: text(user.desktop_dir()),
            documents: text(user.document_dir()),
            downloads: text(user.download_dir()),
        })
    }
}

/// The MCPB name of a platform (Node's `process.platform`).
pub fn platform_name(os: Os) -> &'static str {
    match os {
        Os::MacOs => "darwin",
        Os::Windows => "win32",
        Os::Linux => "linux",
    }
}

/// Whether `manifest` says it runs on `os` (no `compatibility.platforms`: everywhere).
pub fn runs_on(manifest: &Manifest, os: Os) -> bool {
    let name = platform_name(os);
    (manifest.platforms.as_ref()).is_none_or(|list| list.iter().any(|p| p == name))
}

/// A user's value for one `user_config` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// One value.
    One(String),
    /// Several (`multiple`).
    Many(Vec<String>),
}

/// What a bundle runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment.
    pub env: BTreeMap<String, String>,
    /// The variables of `env` that hold a sensitive value (for the keychain).
    pub sensitive_env: BTreeSet<String>,
}

/// Why `mcp_config` cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// `${NAME}` that is not a variable of the format.
    #[error("`{at}` uses `${{{name}}}`, which is not an MCPB variable")]
    Unknown {
        /// Where.
        at: String,
        /// The variable.
        name: String,
    },
    /// A variable this machine has no value for (`${DESKTOP}` without a desktop).
    #[error("`{at}` uses `${{{name}}}`, which this machine has no folder for")]
    NoFolder {
        /// Where.
        at: String,
        /// The variable.
        name: String,
    },
    /// A several-valued option inside a longer word.
    #[error("`{at}` uses several-valued `{name}` inside a longer word; it must stand alone")]
    ManyInWord {
        /// Where.
        at: String,
        /// The option.
        name: String,
    },
    /// A sensitive value outside the environment.
    #[error(
        "the bundle puts sensitive `{name}` in its {at}, where every process of the machine can read it; refused (a sensitive value is accepted only in `env`)"
    )]
    SensitiveInCommandLine {
        /// Where.
        at: &'static str,
        /// The option.
        name: String,
    },
}

/// `manifest`'s `mcp_config` for `facts.os`, unpacked at `dir`, with `values` by option.
pub fn render(
    manifest: &Manifest,
    dir: &str,
    facts: &Facts,
    values: &BTreeMap<String, Value>,
) -> Result<Rendered, RenderError> {
    let base = &manifest.server.mcp_config;
    let over = base.platform_overrides.get(platform_name(facts.os));
    let command = (over.and_then(|o| o.command.as_ref())).unwrap_or(&base.command);
    let args = (over.and_then(|o| o.args.as_ref())).unwrap_or(&base.args);
    let env = (over.and_then(|o| o.env.as_ref())).unwrap_or(&base.env);
    let sensitive: BTreeSet<&str> = (manifest.user_config.iter())
        .filter(|(_, o)| o.sensitive)
        .map(|(k, _)| k.as_str())
        .collect();
    let declared: BTreeSet<&str> = manifest
        .user_config
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    let words = Words {
        dir,
        facts,
        values,
        sensitive: &sensitive,
        declared: &declared,
    };

    let mut rendered = Rendered::default();
    let (command, secret) = words.one(command, "command")?;
    if let Some(name) = secret {
        return Err(RenderError::SensitiveInCommandLine {
            at: "command",
            name,
        });
    }
    rendered.command = binary_path(manifest, &command, dir, facts.os);
    for (n, arg) in args.iter().enumerate() {
        let at = format!("args[{n}]");
        if let Some(name) = option(arg, &declared) {
            if sensitive.contains(name) {
                return Err(sensitive_in_args(name));
            }
            // An option without a value gives no argument, as an empty `multiple` gives none.
            match values.get(name) {
                Some(Value::One(v)) => rendered.args.push(v.clone()),
                Some(Value::Many(vs)) => rendered.args.extend(vs.iter().cloned()),
                None => {}
            }
            continue;
        }
        let (word, secret) = words.one(arg, &at)?;
        if let Some(name) = secret {
            return Err(sensitive_in_args(&name));
        }
        rendered.args.push(word);
    }
    for (var, text) in env {
        if option(text, &declared).is_some_and(|name| !values.contains_key(name)) {
            continue;
        }
        let (value, secret) = words.one(text, &format!("env.{var}"))?;
        if secret.is_some() {
            rendered.sensitive_env.insert(var.clone());
        }
        rendered.env.insert(var.clone(), value);
    }
    Ok(rendered)
}

fn sensitive_in_args(name: &str) -> RenderError {
    RenderError::SensitiveInCommandLine {
        at: "arguments",
        name: name.to_owned(),
    }
}

/// A binary bundle's relative command (`server/tool`) is a file of the bundle: made absolute,
/// with `.exe` on Windows when it has no extension, as the format says.
fn binary_path(manifest: &Manifest, command: &str, dir: &str, os: Os) -> String {
    let separator = if os == Os::Windows { "\\" } else { "/" };
    let relative = !command.starts_with(['/', '\\']) && !command.contains(':');
    if manifest.server.kind != ServerKind::Binary || !relative || !command.contains(['/', '\\']) {
        return command.to_owned();
    }
    let mut path = format!(
        "{dir}{separator}{}",
        command.replace(['/', '\\'], separator)
    );
    let last = path.rsplit(['/', '\\']).next().unwrap_or_default();
    if os == Os::Windows && !last.contains('.') {
        path.push_str(".exe");
    }
    path
}

/// The declared option standing alone in `word`.
fn option<'w>(word: &'w str, declared: &BTreeSet<&str>) -> Option<&'w str> {
    alone(word).filter(|name| declared.contains(name))
}

/// The option named by `word` when it is exactly `${user_config.NAME}`.
fn alone(word: &str) -> Option<&str> {
    word.strip_prefix("${user_config.")?.strip_suffix('}')
}

struct Words<'a> {
    dir: &'a str,
    facts: &'a Facts,
    values: &'a BTreeMap<String, Value>,
    sensitive: &'a BTreeSet<&'a str>,
    declared: &'a BTreeSet<&'a str>,
}

impl Words<'_> {
    /// `text` with its variables substituted, and the sensitive option it holds, if any.
    fn one(&self, text: &str, at: &str) -> Result<(String, Option<String>), RenderError> {
        let mut out = String::new();
        let mut secret = None;
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &rest[start + 2..start + len];
            rest = &rest[start + len + 1..];
            if let Some(key) = name.strip_prefix("user_config.")
                && self.declared.contains(key)
            {
                match self.values.get(key) {
                    Some(Value::One(v)) => out.push_str(v),
                    Some(Value::Many(_)) => {
                        return Err(RenderError::ManyInWord {
                            at: at.to_owned(),
                            name: key.to_owned(),
                        });
                    }
                    None => {}
                }
                if self.sensitive.contains(key) {
                    secret = Some(key.to_owned());
                }
                continue;
            }
            out.push_str(&self.variable(name, at)?);
        }
        out.push_str(rest);
        Ok((out, secret))
    }

    fn variable(&self, name: &str, at: &str) -> Result<String, RenderError> {
        let folder = |f: &Option<String>| {
            f.clone().ok_or_else(|| RenderError::NoFolder {
                at: at.to_owned(),
                name: name.to_owned(),
            })
        };
        match name {
            "__dirname" => Ok(self.dir.to_owned()),
            "HOME" => Ok(self.facts.home.clone()),
            "DESKTOP" => folder(&self.facts.desktop),
            "DOCUMENTS" => folder(&self.facts.documents),
            "DOWNLOADS" => folder(&self.facts.downloads),
            "pathSeparator" | "/" => Ok(match self.facts.os {
                Os::Windows => "\\".to_owned(),
                _ => "/".to_owned(),
            }),
            _ => Err(RenderError::Unknown {
                at: at.to_owned(),
                name: name.to_owned(),
            }),
        }
    }
}

/// `text` with the machine's folders substituted (`${HOME}`, `${DESKTOP}`, ...), for a
/// `user_config` default; refused when it names anything else.
pub fn folders(text: &str, facts: &Facts) -> Result<String, RenderError> {
    let words = Words {
        dir: "",
        facts,
        values: &BTreeMap::new(),
        sensitive: &BTreeSet::new(),
        declared: &BTreeSet::new(),
    };
    if text.contains("${__dirname}") {
        return Err(RenderError::Unknown {
            at: "default".into(),
            name: "__dirname".into(),
        });
    }
    words.one(text, "default").map(|(word, _)| word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::{parse, tests::good};
    use serde_json::json;

    fn facts(os: Os) -> Facts {
        let (home, sep) = match os {
            Os::Windows => ("C:\\Users\\ada", "\\"),
            Os::MacOs => ("/Users/ada", "/"),
            Os::Linux => ("/home/ada", "/"),
        };
        Facts {
            os,
            home: home.to_owned(),
            desktop: Some(format!("{home}{sep}Desktop")),
            documents: Some(format!("{home}{sep}Documents")),
            downloads: None,
        }
    }

    fn manifest(edit: impl FnOnce(&mut serde_json::Value)) -> Manifest {
        let mut m = good("0.3");
        edit(&mut m);
        parse(m.to_string().as_bytes()).unwrap()
    }

    fn values(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn each_platform_gets_its_overrides_and_separator() {
        let m = manifest(|m| {
            m["server"]["mcp_config"] = json!({
                "command": "node",
                "args": ["${__dirname}${/}server${pathSeparator}index.js", "${HOME}", "${DOCUMENTS}"],
                "env": {"A": "1"},
                "platform_overrides": {
                    "win32": {"command": "node.exe", "args": ["${__dirname}\\win.js"]},
                    "darwin": {"env": {"DYLD": "${__dirname}/lib"}}
                }
            });
        });
        let v = BTreeMap::new();
        let linux = render(&m, "/b", &facts(Os::Linux), &v).unwrap();
        assert_eq!(linux.command, "node");
        assert_eq!(
            linux.args,
            ["/b/server/index.js", "/home/ada", "/home/ada/Documents"]
        );
        assert_eq!(linux.env, BTreeMap::from([("A".into(), "1".into())]));
        let windows = render(&m, "C:\\b", &facts(Os::Windows), &v).unwrap();
        assert_eq!(
            windows.command, "node.exe",
            "win32's command replaces the base"
        );
        assert_eq!(windows.args, ["C:\\b\\win.js"], "and its args, whole");
        assert_eq!(
            windows.env["A"], "1",
            "env kept: win32 does not override it"
        );
        let mac = render(&m, "/b", &facts(Os::MacOs), &v).unwrap();
        assert_eq!(mac.command, "node");
        assert_eq!(mac.args[1], "/Users/ada");
        assert_eq!(
            mac.env,
            BTreeMap::from([("DYLD".into(), "/b/lib".into())]),
            "darwin's env replaces the base env whole"
        );
    }

    #[test]
    fn user_values_fill_in_and_several_expand_when_alone() {
        let m = manifest(|m| {
            m["server"]["mcp_config"]["args"] = json!([
                "${__dirname}/server/index.js",
                "--days=${user_config.days}",
                "${user_config.dirs}"
            ]);
        });
        let v = values(&[
            ("key", Value::One("s3cret".into())),
            ("units", Value::One("imperial".into())),
            ("days", Value::One("5".into())),
            ("dirs", Value::Many(vec!["/a".into(), "/b c".into()])),
        ]);
        let r = render(&m, "/b", &facts(Os::Linux), &v).unwrap();
        assert_eq!(r.args, ["/b/server/index.js", "--days=5", "/a", "/b c"]);
        assert_eq!(r.env["UNITS"], "imperial");
        assert_eq!(r.env["API_KEY"], "s3cret");
        assert_eq!(
            r.sensitive_env,
            BTreeSet::from(["API_KEY".to_owned()]),
            "the sensitive value is marked for the keychain"
        );
        let empty = values(&[
            ("key", Value::One("k".into())),
            ("dirs", Value::Many(vec![])),
        ]);
        let r = render(&m, "/b", &facts(Os::Linux), &empty).unwrap();
        assert_eq!(
            r.args,
            ["/b/server/index.js", "--days="],
            "nothing for an empty list"
        );
        assert!(
            !r.env.contains_key("UNITS"),
            "an unset option sets no variable"
        );
    }

    #[test]
    fn what_cannot_be_rendered_honestly_is_refused() {
        let v = values(&[
            ("key", Value::One("s3cret".into())),
            ("dirs", Value::Many(vec!["/a".into()])),
        ]);
        let with_args =
            |args: serde_json::Value| manifest(|m| m["server"]["mcp_config"]["args"] = args);
        let err = |m: &Manifest| render(m, "/b", &facts(Os::Linux), &v).unwrap_err();
        assert!(matches!(
            err(&with_args(json!(["${user_config.key}"]))),
            RenderError::SensitiveInCommandLine {
                at: "arguments",
                ..
            }
        ));
        assert!(matches!(
            err(&with_args(json!(["--key=${user_config.key}"]))),
            RenderError::SensitiveInCommandLine { .. }
        ));
        assert!(matches!(
            err(&with_args(json!(["--dirs=${user_config.dirs}"]))),
            RenderError::ManyInWord { .. }
        ));
        assert!(matches!(
            err(&with_args(json!(["${SHELL}"]))),
            RenderError::Unknown { .. }
        ));
        assert!(matches!(
            err(&with_args(json!(["${user_config.nope}"]))),
            RenderError::Unknown { .. }
        ));
        assert!(matches!(
            err(&with_args(json!(["${DOWNLOADS}/x"]))),
            RenderError::NoFolder { .. }
        ));
    }

    #[test]
    fn a_binary_bundles_command_is_its_own_file() {
        let m = manifest(|m| {
            m["server"]["type"] = json!("binary");
            m["server"]["mcp_config"] = json!({"command": "server/tool"});
        });
        let none = BTreeMap::new();
        assert_eq!(
            render(&m, "/b", &facts(Os::Linux), &none).unwrap().command,
            "/b/server/tool"
        );
        assert_eq!(
            render(&m, "C:\\b", &facts(Os::Windows), &none)
                .unwrap()
                .command,
            "C:\\b\\server\\tool.exe"
        );
    }

    #[test]
    fn platforms_are_checked_against_the_os_given() {
        let only_mac = manifest(|m| m["compatibility"]["platforms"] = json!(["darwin"]));
        assert!(runs_on(&only_mac, Os::MacOs));
        assert!(!runs_on(&only_mac, Os::Linux));
        assert!(!runs_on(&only_mac, Os::Windows));
        let any = manifest(|m| drop(m.as_object_mut().unwrap().remove("compatibility")));
        for os in [Os::MacOs, Os::Linux, Os::Windows] {
            assert!(runs_on(&any, os), "no list: everywhere");
        }
    }

    #[test]
    fn defaults_take_the_machines_folders() {
        assert_eq!(
            folders("${HOME}/a", &facts(Os::Linux)).unwrap(),
            "/home/ada/a"
        );
        assert!(folders("${__dirname}/a", &facts(Os::Linux)).is_err());
    }
}
