//! The peer proxies the hub is compared with, each installed by `scripts/deps.sh` from the
//! registries and started with its own server-everything behind it on a free loopback port.
//!
//! - supergateway (npm), stdio -> Streamable HTTP, `--stateful`: one server per client session.
//!   Its default stateless mode starts a new server for every request, which would time Node's
//!   start-up, not the proxying. It has no host flag and listens on every interface, so a
//!   `--require` preload pins its `listen` to 127.0.0.1.
//! - mcp-proxy (PyPI), stdio -> Streamable HTTP (`/mcp`) and SSE: one server shared by all
//!   sessions, from its own venv (it needs mcp<2).
//! - @1mcp/agent (npm): the npm registry reachable here answers 404 for it, so it is not
//!   pinned and its row says so.
//!
//! Each peer logs at its quietest level (warnings), as the hub does in the benchmark.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::loopback;
use crate::measure::Endpoint;
use crate::process::Owned;

/// A peer that started and listens.
pub struct Peer {
    pub process: Owned,
    pub endpoint: Endpoint,
}

/// A peer proxy by name, with what it took to start it or why it did not run.
pub struct Candidate {
    pub name: &'static str,
    pub started: Result<Peer, String>,
}

/// Where the installed peers live (`$PATCHBAY_PEERS`) and the server every proxy fronts.
pub struct Installed<'a> {
    pub peers: &'a Path,
    pub everything: &'a Path,
    /// A scratch directory for logs and the loopback preload.
    pub scratch: &'a Path,
}

/// Preloaded into supergateway's Node process: `listen(port)` and `listen({port})` calls
/// without a host get 127.0.0.1.
const LOOPBACK_PRELOAD: &str = r#"// Written by patchbay-bench: keep this process's servers on 127.0.0.1.
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1');
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
"#;

impl Installed<'_> {
    /// Start every peer; a peer that is missing or fails to start becomes a "not run" row.
    pub fn start_all(&self) -> Vec<Candidate> {
        vec![
            Candidate {
                name: "supergateway (npm, --stateful)",
                started: self.supergateway().map_err(|e| format!("{e:#}")),
            },
            Candidate {
                name: "mcp-proxy (PyPI)",
                started: self.mcp_proxy().map_err(|e| format!("{e:#}")),
            },
            Candidate {
                name: "@1mcp/agent (npm)",
                started: Err(self.one_mcp()),
            },
        ]
    }

    fn supergateway(&self) -> Result<Peer> {
        let script = self.peers.join("node_modules/supergateway/dist/index.js");
        ensure_installed(&script)?;
        let preload = self.scratch.join("loopback.cjs");
        std::fs::write(&preload, LOOPBACK_PRELOAD)?;
        let port = loopback::free_port()?;
        let server = format!(
            "node {} stdio",
            shell_quote(&self.everything.to_string_lossy())
        );
        let args: Vec<OsString> = vec![
            "-r".into(),
            preload.into(),
            script.into(),
            "--stdio".into(),
            server.into(),
            "--outputTransport".into(),
            "streamableHttp".into(),
            "--stateful".into(),
            "--port".into(),
            port.to_string().into(),
            "--logLevel".into(),
            "none".into(),
        ];
        self.start("supergateway", "node".into(), args, port, "/mcp")
    }

    fn mcp_proxy(&self) -> Result<Peer> {
        let program = self.peers.join("venv-mcp-proxy/bin/mcp-proxy");
        ensure_installed(&program)?;
        let port = loopback::free_port()?;
        let args: Vec<OsString> = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string().into(),
            "--log-level".into(),
            "WARNING".into(),
            "--".into(),
            "node".into(),
            self.everything.into(),
            "stdio".into(),
        ];
        self.start("mcp-proxy", program.into(), args, port, "/mcp")
    }

    fn one_mcp(&self) -> String {
        if self.peers.join("node_modules/@1mcp/agent").exists() {
            "installed, but the benchmark does not drive it yet".to_owned()
        } else {
            "not installable here: the npm registry answers 404 for `@1mcp/agent`".to_owned()
        }
    }

    fn start(
        &self,
        name: &str,
        program: OsString,
        args: Vec<OsString>,
        port: u16,
        path: &str,
    ) -> Result<Peer> {
        let command_line = std::iter::once(&program)
            .chain(&args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        eprintln!("bench: starting {name}: {command_line}");
        let mut command = Command::new(&program);
        command.args(&args);
        let mut process = Owned::spawn(name, command, &self.scratch.join(format!("{name}.log")))?;
        loopback::wait_listening(&mut process, port, Duration::from_secs(60))?;
        loopback::ensure_loopback_only(port)?;
        Ok(Peer {
            process,
            endpoint: Endpoint::Http {
                url: format!("http://127.0.0.1:{port}{path}"),
                auth: None,
            },
        })
    }
}

fn ensure_installed(path: &Path) -> Result<()> {
    path.try_exists()
        .ok()
        .filter(|&exists| exists)
        .map(|_| ())
        .with_context(|| {
            format!(
                "not installed: no `{}` (run scripts/deps.sh)",
                path.display()
            )
        })
}

/// `s` as one word for `sh -c` (supergateway runs its `--stdio` command through a shell).
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_left_alone() {
        assert_eq!(shell_quote("/a/b-c/index.js"), "/a/b-c/index.js");
    }

    #[test]
    fn paths_with_spaces_or_quotes_become_one_word() {
        assert_eq!(shell_quote("/a b/it's.js"), r"'/a b/it'\''s.js'");
    }
}
