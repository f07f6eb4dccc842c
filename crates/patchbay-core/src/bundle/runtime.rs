//! A bundle's `compatibility.runtimes` held against the runtimes on this machine, before
//! anything is unpacked.
//!
//! Each runtime is asked for its version the way its entry will run it: node is the entry's
//! command when that is node (`node`, `node.exe`), else `node`; python is the entry's command
//! when that is a python, else `python3` (`python` on Windows). Finding the program is
//! [`crate::exec::Lookup`]'s (as the hub finds it); asking is behind [`Probe`], so the rules are
//! tested without spawning anything. A python range of a `uv` server is not checked: uv
//! chooses its own Python. A runtime shipped inside the bundle is not there to ask before it
//! is unpacked, and is said to be unchecked.

use std::path::Path;
use std::time::{Duration, Instant};

use super::manifest::{Manifest, ServerKind};
use super::range::{Range, Version, printed_version};
use crate::platform::Os;

/// How long a runtime may take to print its version.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What asking a program for its version gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// The program is not on `PATH`.
    Missing,
    /// It could not be run, or did not answer (why).
    Failed(String),
    /// What it printed (stdout, then stderr: Python 2 prints its version there).
    Printed(String),
}

/// Asks a program for its version.
pub trait Probe {
    /// What `program --version` gives.
    fn version(&self, program: &str) -> Probed;
}

/// This machine's programs, found on `PATH` as the hub finds them and run with `--version`,
/// each once: a second question about the same program gets the first answer.
#[derive(Debug, Default)]
pub struct System {
    asked: std::sync::Mutex<std::collections::BTreeMap<String, Probed>>,
}

impl Probe for System {
    fn version(&self, program: &str) -> Probed {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let probed =
            asked.entry(program.to_owned()).or_insert_with(
                || match crate::exec::Lookup::from_env().find(program) {
                    None => Probed::Missing,
                    Some(path) => match run_version(&path) {
                        Ok(text) => Probed::Printed(text),
                        Err(why) => Probed::Failed(why),
                    },
                },
            );
        probed.clone()
    }
}

/// `path --version`'s output, within [`PROBE_TIMEOUT`], without a console window on Windows.
fn run_version(path: &Path) -> Result<String, String> {
    let mut command = std::process::Command::new(path);
    command
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        command.creation_flags(windows::Win32::System::Threading::CREATE_NO_WINDOW.0);
    }
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    match output.status.success() {
        true => Ok(text),
        // Windows' store alias for python prints how to install it and fails.
        false => Err(format!(
            "`--version` failed ({}): {}",
            output.status,
            first_line(&text)
        )),
    }
}

/// The first line of `text` with something on it.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Why a bundle's runtimes do not fit this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The runtime is not installed.
    #[error("`{bundle}` needs {runtime} {range}; {program} not found (not on PATH)")]
    Missing {
        /// The bundle.
        bundle: String,
        /// `node` or `python`.
        runtime: String,
        /// The program looked for.
        program: String,
        /// The manifest's range.
        range: String,
    },
    /// The runtime's version is outside the range.
    #[error("`{bundle}` needs {runtime} {range}, found {found}")]
    Outside {
        /// The bundle.
        bundle: String,
        /// `node` or `python`.
        runtime: String,
        /// The manifest's range.
        range: String,
        /// The version found.
        found: Version,
    },
    /// The runtime could not be asked, or its answer was not a version.
    #[error("`{bundle}` needs {runtime} {range}; cannot tell the version of `{program}`: {why}")]
    Unknown {
        /// The bundle.
        bundle: String,
        /// `node` or `python`.
        runtime: String,
        /// The program asked.
        program: String,
        /// The manifest's range.
        range: String,
        /// What went wrong.
        why: String,
    },
}

/// One runtime range of a bundle, held against this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `node` or `python`.
    pub runtime: String,
    /// The manifest's range.
    pub range: Range,
    /// The version found within it; `None` when not checked ([`Checked::unchecked`] says why).
    pub found: Option<Version>,
    /// Why it was not checked.
    pub unchecked: Option<&'static str>,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.runtime, self.range)?;
        match (&self.found, self.unchecked) {
            (Some(found), _) => write!(f, " (found {found})"),
            (None, Some(why)) => write!(f, " (not checked: {why})"),
            (None, None) => Ok(()),
        }
    }
}

/// The program whose version stands for `runtime` in an entry running `command` (rendered,
/// absolute when inside the bundle's `dir`): `None` when it is the bundle's own or, for a
/// `uv` server's python, uv's choice.
pub fn program_for(
    runtime: &str,
    kind: ServerKind,
    command: &str,
    dir: &Path,
    os: Os,
) -> Result<String, &'static str> {
    let stem = Path::new(command)
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let runs_it = match runtime {
        "node" => stem == "node",
        _ => stem.starts_with("python"),
    };
    if runs_it && Path::new(command).starts_with(dir) {
        return Err("the bundle brings its own, not unpacked yet");
    }
    if runtime == "python" && kind == ServerKind::Uv {
        return Err("uv chooses the Python it runs");
    }
    Ok(match (runs_it, runtime, os) {
        (true, _, _) => command.to_owned(),
        (false, "node", _) => "node".into(),
        (false, _, Os::Windows) => "python".into(),
        (false, _, _) => "python3".into(),
    })
}

/// Each of `manifest`'s runtime ranges held against what `probe` finds, for an entry running
/// `command` from `dir` on `os`: the first that does not fit refuses the bundle.
pub fn check(
    manifest: &Manifest,
    command: &str,
    dir: &Path,
    os: Os,
    probe: &dyn Probe,
) -> Result<Vec<Checked>, RuntimeError> {
    let mut checked = Vec::new();
    for (runtime, range) in &manifest.runtimes {
        let program = match program_for(runtime, manifest.server.kind, command, dir, os) {
            Ok(program) => program,
            Err(why) => {
                checked.push(Checked {
                    runtime: runtime.clone(),
                    range: range.clone(),
                    found: None,
                    unchecked: Some(why),
                });
                continue;
            }
        };
        let unknown = |why: String| RuntimeError::Unknown {
            bundle: manifest.name.clone(),
            runtime: runtime.clone(),
            program: program.clone(),
            range: range.to_string(),
            why,
        };
        let found = match probe.version(&program) {
            Probed::Missing => {
                return Err(RuntimeError::Missing {
                    bundle: manifest.name.clone(),
                    runtime: runtime.clone(),
                    program,
                    range: range.to_string(),
                });
            }
            Probed::Failed(why) => return Err(unknown(why)),
            Probed::Printed(text) => printed_version(&text)
                .ok_or_else(|| unknown(format!("`--version` printed `{}`", first_line(&text))))?,
        };
        if !range.matches(&found) {
            return Err(RuntimeError::Outside {
                bundle: manifest.name.clone(),
                runtime: runtime.clone(),
                range: range.to_string(),
                found,
            });
        }
        checked.push(Checked {
            runtime: runtime.clone(),
            range: range.clone(),
            found: Some(found),
            unchecked: None,
        });
    }
    Ok(checked)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bundle::manifest::{parse, tests::good};
    use std::collections::BTreeMap;

    /// Programs and what each prints for `--version`; any other is missing.
    pub(crate) struct Fake(pub(crate) BTreeMap<&'static str, Probed>);

    impl Fake {
        pub(crate) fn printing(list: &[(&'static str, &str)]) -> Self {
            Self(
                (list.iter())
                    .map(|(p, text)| (*p, Probed::Printed((*text).to_owned())))
                    .collect(),
            )
        }
    }

    impl Probe for Fake {
        fn version(&self, program: &str) -> Probed {
            self.0.get(program).cloned().unwrap_or(Probed::Missing)
        }
    }

    fn manifest(runtimes: serde_json::Value, kind: &str) -> Manifest {
        let mut m = good("0.4");
        m["compatibility"]["runtimes"] = runtimes;
        m["server"]["type"] = kind.into();
        parse(m.to_string().as_bytes()).unwrap()
    }

    fn checking(m: &Manifest, command: &str, os: Os, probe: &Fake) -> Result<Vec<String>, String> {
        check(m, command, Path::new("/b/weather"), os, probe)
            .map(|list| list.iter().map(ToString::to_string).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_runtime_in_range_passes_and_one_outside_is_refused_naming_both() {
        let m = manifest(serde_json::json!({"node": ">=22"}), "node");
        let old = Fake::printing(&[("node", "v20.11.1\n")]);
        assert_eq!(
            checking(&m, "node", Os::Linux, &old).unwrap_err(),
            "`weather` needs node >=22, found 20.11.1"
        );
        let new = Fake::printing(&[("node", "v22.3.0\n")]);
        assert_eq!(
            checking(&m, "node", Os::Linux, &new).unwrap(),
            ["node >=22 (found 22.3.0)"]
        );
        assert_eq!(
            checking(&m, "node", Os::Linux, &Fake::printing(&[])).unwrap_err(),
            "`weather` needs node >=22; node not found (not on PATH)"
        );
        let odd = Fake::printing(&[("node", "hello\n")]);
        assert!(
            (checking(&m, "node", Os::Linux, &odd).unwrap_err())
                .contains("cannot tell the version of `node`: `--version` printed `hello`"),
        );
    }

    #[test]
    fn the_python_asked_is_the_one_the_entry_runs() {
        let m = manifest(serde_json::json!({"python": ">=3.10 <4"}), "python");
        let probe = Fake::printing(&[
            ("python3", "Python 3.9.18"),
            ("python", "Python 3.12.1"),
            ("python3.12", "Python 3.12.1"),
        ]);
        assert_eq!(
            checking(&m, "python3", Os::Linux, &probe).unwrap_err(),
            "`weather` needs python >=3.10 <4, found 3.9.18"
        );
        assert_eq!(
            checking(&m, "python3.12", Os::Linux, &probe).unwrap(),
            ["python >=3.10 <4 (found 3.12.1)"]
        );
        assert_eq!(
            checking(&m, "some-launcher", Os::Windows, &probe).unwrap(),
            ["python >=3.10 <4 (found 3.12.1)"],
            "Windows' python is `python`"
        );
        let uv = manifest(serde_json::json!({"python": ">=3.10"}), "uv");
        assert_eq!(
            checking(&uv, "uv", Os::Linux, &Fake::printing(&[])).unwrap(),
            ["python >=3.10 (not checked: uv chooses the Python it runs)"]
        );
        assert_eq!(
            checking(
                &m,
                "/b/weather/venv/bin/python",
                Os::Linux,
                &Fake::printing(&[])
            )
            .unwrap(),
            ["python >=3.10 <4 (not checked: the bundle brings its own, not unpacked yet)"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_version_is_read_from_stderr_and_a_failing_runtime_is_not_believed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        // A script just written may be busy while another test's child forks (ETXTBSY).
        let run = |path: &Path| {
            let mut tries = 0;
            loop {
                match run_version(path) {
                    Err(e) if e.contains("os error 26") && tries < 20 => tries += 1,
                    done => return done,
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let old = script("python2", "echo 'Python 2.7.18' >&2");
        let text = run(&old).unwrap();
        assert_eq!(printed_version(&text).unwrap().to_string(), "2.7.18");
        let alias = script(
            "python",
            "echo 'Python was not found; install 3 from the Store'; exit 9",
        );
        let err = run(&alias).unwrap_err();
        assert!(
            err.contains("failed") && err.contains("Python was not found"),
            "a failing --version is not read for a number: {err}"
        );
    }

    #[test]
    fn an_unreadable_range_is_refused_naming_the_field() {
        let mut m = good("0.4");
        m["compatibility"]["runtimes"] = serde_json::json!({"node": ">=eighteen"});
        let err = parse(m.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, "compatibility.runtimes.node");
        assert!(
            err.to_string()
                .contains("`eighteen` is not a version range"),
            "{err}"
        );
    }
}
