//! A stdio server: its child spawned in a process tree of its own (so `npx`'s node grandchild
//! dies with it), its stderr to the server's rotating log, its answers read whole, its secret
//! environment read from the vault at each start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use process_wrap::tokio::{CommandWrap, KillOnDrop};
use rmcp::transport::TokioChildProcess;
use tokio::io::AsyncBufReadExt;

use crate::logs::RotatingLog;

use crate::whole::child::{TakeStdio, WholeChild};

use super::{Link, Upstream, clip};

impl Upstream {
    /// A stdio server: spawn the child in its own process group, its stderr to the log.
    pub(super) async fn run_child<L: Link>(
        &self,
        link: &Arc<L>,
        log: &Arc<Mutex<RotatingLog>>,
    ) -> Result<(), String> {
        let secrets = self.secret_env().await?;
        // On Windows `npx` is `npx.cmd`: found through PATHEXT, as a shell would (see `exec`).
        let program = crate::exec::resolve(
            &self.config.command,
            self.config.env.get("PATH").map(std::ffi::OsStr::new),
        );
        let mut command = tokio::process::Command::new(program);
        command
            .args(&self.config.args)
            .envs(&self.config.env)
            .envs(secrets.iter().map(|(var, value)| (var, value.expose())));
        if let Some(cwd) = &self.config.cwd {
            command.current_dir(cwd);
        }
        let stdio = TakeStdio::default();
        let mut wrapped = CommandWrap::from(command);
        own_process_tree(&mut wrapped);
        wrapped.wrap(KillOnDrop).wrap(stdio.clone());
        let started = TokioChildProcess::builder(wrapped)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|(child, stderr)| Ok((WholeChild::new(child, &stdio)?, stderr)));
        let (transport, stderr) =
            started.map_err(|err| format!("failed to start `{}`: {err}", self.config.command))?;
        let pid = transport.id();
        let _ = log
            .lock()
            .expect("log lock")
            .note(&format!("pid {}", pid.unwrap_or_default()));
        let stderr_task = stderr.map(|stderr| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                let mut last = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = log.lock().expect("log lock").line(&line);
                    if !line.trim().is_empty() {
                        last = Some(line);
                    }
                }
                last
            })
        });
        self.set(&**link, |l| l.pid = pid);
        let outcome = self.serve(link, transport, pid, log).await;
        if let Some(pid) = pid {
            reap_group(pid).await;
        }
        let last_words = match stderr_task {
            // The pipe closes with the child; bounded in case a grandchild keeps it open.
            Some(task) => match tokio::time::timeout(Duration::from_secs(1), task).await {
                Ok(Ok(last)) => last,
                _ => None,
            },
            None => None,
        };
        // A server that fails usually says why on stderr; its last line saves a trip to the log.
        outcome.map_err(|err| match last_words {
            Some(line) => format!("{err}; its last stderr line: {}", clip(&line, 200)),
            None => err,
        })
    }

    /// The values of the server's `secret_env`, read from the vault now (so a secret set since
    /// the last attempt is picked up by the next). A missing one is an error that says how to
    /// set it: the child never starts with an empty value.
    pub(super) async fn secret_env(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::secret::Secret>, String> {
        if self.config.secret_env.is_empty() {
            return Ok(Default::default());
        }
        let (found, missing) = self
            .vault
            .env_values(&self.name, &self.config.secret_env)
            .await
            .map_err(|err| {
                let hint = err
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                format!(
                    "cannot read the secrets of server {}: {err}{hint}",
                    self.name
                )
            })?;
        if let Some(var) = missing.first() {
            return Err(format!(
                "secret {var} for server {name} is not in the keychain; run `patchbay secret set {name} {var}`",
                name = self.name
            ));
        }
        Ok(found)
    }
}

/// Resolves once the process `pid` has exited (it may stay a zombie until rmcp reaps it).
pub(super) async fn child_exited(pid: Option<u32>) {
    let Some(pid) = pid else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !process_alive(pid) {
            return;
        }
    }
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    // State is the field after the parenthesised command name; `Z` is a zombie.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn process_alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    // Windows: the job object ends the tree with the child, so stdout closes with it.
    true
}

/// Gives the child a process tree of its own that ends with it. On unix, a process group: a stop
/// signals the whole group, so `npx`'s node grandchild goes too. On Windows, a job object that
/// kills every process in it when its last handle closes (the child's wrapper holds it, so the
/// tree ends on stop, restart, idle stop, and when the hub itself exits or is killed), and no
/// console window of its own: the hub may run without one, and a window per server would flash.
#[cfg(unix)]
pub(super) fn own_process_tree(command: &mut CommandWrap) {
    command.wrap(process_wrap::tokio::ProcessGroup::leader());
}

#[cfg(windows)]
pub(super) fn own_process_tree(command: &mut CommandWrap) {
    use process_wrap::tokio::{CreationFlags, JobObject};
    use windows::Win32::System::Threading::CREATE_NO_WINDOW;
    command
        .wrap(JobObject)
        .wrap(CreationFlags(CREATE_NO_WINDOW));
}

/// End whatever is left of the child's process group. rmcp kills the group when it stops the
/// child itself, but when the child died on its own (a wrapper shell killed, a crash), its
/// grandchildren would live on: SIGTERM them, then SIGKILL what is still there a moment later.
/// The group id is the dead leader's pid, which cannot be reused while the group has members.
#[cfg(unix)]
pub(super) async fn reap_group(pgid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let group = Pid::from_raw(pgid as i32);
    if killpg(group, Signal::SIGTERM).is_err() {
        return; // no member left
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if killpg(group, None).is_err() {
            return;
        }
    }
    let _ = killpg(group, Signal::SIGKILL);
}

#[cfg(not(unix))]
pub(super) async fn reap_group(_pgid: u32) {
    // On Windows process-wrap's job object ends the whole tree with the child.
}
