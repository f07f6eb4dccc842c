//! The hub under test: a sandboxed `PATCHBAY_HOME` whose `config.toml` lists the servers,
//! `patchbay serve` on a free loopback port, and the URL and secret its discovery file names.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::measure::Endpoint;
use crate::process::Owned;

/// One `[servers.NAME]` entry: a stdio command.
pub struct Server {
    pub name: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    /// `Some(timeout)`: a lazy server with that `idle_timeout`; `None`: started with the hub.
    pub idle_timeout: Option<String>,
}

/// A running hub; stopped (with its servers) when dropped.
pub struct Hub {
    pub process: Owned,
    pub home: PathBuf,
    url: String,
    secret: String,
}

impl Hub {
    /// Write the config, start the hub, and wait until every server in it runs (a lazy one:
    /// runs or has gone idle again).
    pub fn start(patchbay: &Path, home: &Path, servers: &[Server]) -> Result<Self> {
        std::fs::create_dir_all(home)?;
        std::fs::write(home.join("config.toml"), config(servers)?)?;
        let mut command = Command::new(patchbay);
        command
            .env("PATCHBAY_HOME", home)
            .env("PATCHBAY_LOG", "warn")
            .args(["serve", "--port", "0"]);
        let mut process = Owned::spawn("patchbay serve", command, &home.join("hub.log"))?;
        let discovery = home.join("state/hub.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (url, secret) = loop {
            process.ensure_running()?;
            if let Ok(text) = std::fs::read_to_string(&discovery) {
                let value: serde_json::Value = serde_json::from_str(&text)?;
                let url = value["url"].as_str().unwrap_or_default().to_owned();
                let secret_file = value["secret_file"].as_str().unwrap_or_default();
                let secret = std::fs::read_to_string(secret_file)
                    .with_context(|| format!("failed to read the hub secret `{secret_file}`"))?;
                break (url, secret.trim().to_owned());
            }
            if Instant::now() > deadline {
                bail!("the hub did not start; its log:\n{}", process.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let hub = Self {
            process,
            home: home.to_owned(),
            url,
            secret,
        };
        hub.wait_running(patchbay, servers.len())?;
        Ok(hub)
    }

    /// Poll `patchbay status --json` until `count` servers report `running` (or `idle`).
    fn wait_running(&self, patchbay: &Path, count: usize) -> Result<()> {
        self.wait_states(
            patchbay,
            count,
            &["running", "idle"],
            Duration::from_secs(120),
        )
    }

    /// Poll `patchbay status --json` until `count` servers are each in one of `states`.
    pub fn wait_states(
        &self,
        patchbay: &Path,
        count: usize,
        states: &[&str],
        limit: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let out = Command::new(patchbay)
                .env("PATCHBAY_HOME", &self.home)
                .args(["status", "--json"])
                .output()?;
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let reached = status["servers"].as_array().is_some_and(|s| {
                s.len() == count
                    && s.iter()
                        .all(|s| states.iter().any(|state| s["state"] == *state))
            });
            if reached {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("servers did not reach {states:?}: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The hub's Streamable HTTP endpoint, with its bearer secret.
    pub fn http(&self) -> Endpoint {
        Endpoint::Http {
            url: self.url.clone(),
            auth: Some(self.secret.clone()),
        }
    }

    /// `patchbay bridge` against this hub: a stdio endpoint, one bridge process per session.
    pub fn bridge(&self, patchbay: &Path) -> Endpoint {
        Endpoint::Stdio {
            program: patchbay.into(),
            args: vec!["bridge".into()],
            env: vec![("PATCHBAY_HOME".into(), self.home.clone().into())],
        }
    }

    /// Spawn `patchbay bridge`, send `initialize`, and time the first line back.
    pub fn bridge_first_answer(&self, patchbay: &Path) -> Result<Duration> {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;
        let start = Instant::now();
        let mut child = Command::new(patchbay)
            .env("PATCHBAY_HOME", &self.home)
            .arg("bridge")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdin = child.stdin.take().context("bridge stdin")?;
        writeln!(stdin, "{init}")?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("bridge stdout")?)
            .read_line(&mut line)?;
        let elapsed = start.elapsed();
        drop(stdin);
        let _ = child.wait();
        if !line.contains("\"result\"") {
            bail!("the bridge answered {line}");
        }
        Ok(elapsed)
    }
}

/// The config file: a hub on a port of the OS's choosing and the given servers.
fn config(servers: &[Server]) -> Result<String> {
    let mut table = toml::Table::new();
    let mut hub = toml::Table::new();
    hub.insert("port".into(), 0.into());
    table.insert("hub".into(), hub.into());
    let mut entries = toml::Table::new();
    for server in servers {
        let mut entry = toml::Table::new();
        entry.insert(
            "command".into(),
            server.command.to_string_lossy().into_owned().into(),
        );
        let args: Vec<toml::Value> = server.args.iter().map(|a| a.clone().into()).collect();
        entry.insert("args".into(), args.into());
        // Said explicitly, whatever the default `start` of the Patchbay under test.
        match &server.idle_timeout {
            Some(timeout) => {
                entry.insert("start".into(), "lazy".into());
                entry.insert("idle_timeout".into(), timeout.clone().into());
            }
            None => {
                entry.insert("start".into(), "eager".into());
            }
        }
        entries.insert(server.name.clone(), entry.into());
    }
    table.insert("servers".into(), entries.into());
    Ok(toml::to_string(&table)?)
}
