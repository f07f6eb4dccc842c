//! `patchbay secret`: values of stdio servers' environment variables, kept in the OS keychain.
//!
//! The config file names the variables (`secret_env = ["API_KEY"]`); the values are vault
//! entries `server/<name>/env/<VAR>`. Nothing here prints, logs or writes a value: `set` reads
//! it from stdin (without echo on a terminal), `list` shows names and whether each is stored.

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use patchbay_core::config::{self, Config};
use patchbay_core::discovery;
use patchbay_core::paths::Paths;
use patchbay_core::secret::Secret;
use patchbay_core::vault::{Account, Vault, VaultError};
use serde_json::json;

use crate::commands::{config_failure, nudge_hub, runtime};

/// Run one vault call to completion. A keychain call that timed out may still block its
/// thread (an unanswerable prompt): the runtime is then left behind instead of waited for.
fn keychain<T>(call: impl std::future::Future<Output = T>) -> T {
    let runtime = runtime();
    let result = runtime.block_on(call);
    runtime.shutdown_background();
    result
}
use crate::commands::out;
use crate::failure::{Failure, Kind};

type Result<T = ()> = std::result::Result<T, Failure>;

/// `patchbay secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a server's environment variable in the keychain; the value is read from stdin
    /// (typed without echo on a terminal, or piped), never taken as an argument.
    Set {
        /// Server name.
        name: String,
        /// Environment variable name, e.g. `API_KEY`.
        var: String,
    },
    /// List stored and expected secrets by name (never their values).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a server's environment variable from the keychain.
    Rm {
        /// Server name.
        name: String,
        /// Environment variable name.
        var: String,
    },
}

/// Run one `secret` command.
pub fn run(paths: &Paths, command: SecretCommand) -> Result {
    match command {
        SecretCommand::Set { name, var } => set(paths, &name, &var),
        SecretCommand::List { json } => list(paths, json),
        SecretCommand::Rm { name, var } => rm(paths, &name, &var),
    }
}

/// A vault failure as the CLI reports it, with the fix.
pub fn vault_failure(err: VaultError) -> Failure {
    let kind = match err {
        VaultError::InvalidName { .. } => Kind::General,
        _ => Kind::Vault,
    };
    let hint = err.hint();
    let failure = Failure::from_error(kind, &err);
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

fn set(paths: &Paths, name: &str, var: &str) -> Result {
    // Names first, so a typo fails before the user types a secret.
    Account::env(name, var).map_err(vault_failure)?;
    let config = Config::load(&paths.config_file).map_err(config_failure)?;
    let value = read_value(name, var)?;
    let vault = Vault::for_paths(paths);
    keychain(vault.set_env(name, var, &value)).map_err(vault_failure)?;
    eprintln!("stored `{var}` for server `{name}` in the keychain");

    let Some(server) = config.servers.get(name) else {
        eprintln!(
            "hint: no server `{name}` is configured yet; add it with `patchbay add {name} --secret-env {var} -- COMMAND...`"
        );
        return Ok(());
    };
    if server.secret_env.iter().any(|v| v == var) {
        restart_if_running(paths, name);
        return Ok(());
    }
    let (_, moved) =
        config::edit::add_secret_env(&paths.config_file, name, var).map_err(config_failure)?;
    if moved {
        eprintln!(
            "removed the plain value of `{var}` from `servers.{name}.env` in {}",
            paths.config_file.display()
        );
    }
    eprintln!(
        "`servers.{name}.secret_env` in {} now lists `{var}`",
        paths.config_file.display()
    );
    nudge_hub(paths);
    Ok(())
}

/// The value from stdin: typed without echo on a terminal, else everything piped in, less one
/// trailing line break.
pub(crate) fn read_value(name: &str, var: &str) -> Result<Secret> {
    read_secret(
        &format!("Value of {var} for server `{name}` (not shown): "),
        &format!("printf %s \"$VALUE\" | patchbay secret set {name} {var}"),
    )
}

/// A secret from stdin, as [`read_value`]: `prompt` on a terminal; `example` is the command the
/// hint shows when nothing came.
pub(crate) fn read_secret(prompt: &str, example: &str) -> Result<Secret> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|err| Failure::from_error(Kind::General, &err))?
    } else {
        piped(std::io::stdin().lock()).map_err(|err| {
            Failure::new(Kind::General, "cannot read the value from stdin")
                .hint(format!("pipe the value as UTF-8 text ({err})"))
        })?
    };
    if value.is_empty() {
        return Err(
            Failure::new(Kind::General, "the value is empty; nothing stored")
                .hint(format!("pipe it in: `{example}`")),
        );
    }
    Ok(Secret::new(value))
}

/// Everything `input` holds, less one trailing line break (`\n` or `\r\n`): what `echo` or a
/// file adds, never part of a secret.
fn piped(mut input: impl Read) -> std::io::Result<String> {
    let mut text = String::new();
    input.read_to_string(&mut text)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// A running hub reads secrets when it starts a server: restart it so a new value applies now.
fn restart_if_running(paths: &Paths, name: &str) {
    if let Some(found) = discovery::find_running(paths) {
        let result = runtime().block_on(async {
            patchbay_core::control::Client::new(&found)?
                .post(&format!("/servers/{name}/restart"))
                .await
        });
        match result {
            Ok(_) => eprintln!("restarted `{name}` in the running hub"),
            Err(err) => eprintln!(
                "warning: the running hub did not restart `{name}` ({err}); it uses the new value at its next start"
            ),
        }
    }
}

struct Row {
    server: String,
    var: String,
    account: String,
    stored: bool,
    referenced: bool,
}

fn list(paths: &Paths, json: bool) -> Result {
    let config = Config::load(&paths.config_file).map_err(config_failure)?;
    let vault = Vault::for_paths(paths);
    let mut rows: Vec<Row> = Vec::new();
    let enumerated = keychain(vault.accounts()).map_err(vault_failure)?;
    for (name, server) in &config.servers {
        if server.secret_env.is_empty() {
            continue;
        }
        let (found, _) =
            keychain(vault.env_values(name, &server.secret_env)).map_err(vault_failure)?;
        for var in &server.secret_env {
            rows.push(Row {
                server: name.clone(),
                var: var.clone(),
                account: Account::env(name, var).map_err(vault_failure)?.to_string(),
                stored: found.contains_key(var),
                referenced: true,
            });
        }
    }
    // Stored values no configured server asks for (set before `add`, or left by a hand edit).
    for account in enumerated.unwrap_or_default() {
        let (Some(server), Some(var)) = (account.server(), account.env_var()) else {
            continue;
        };
        if !rows.iter().any(|r| r.server == server && r.var == var) {
            rows.push(Row {
                server: server.to_owned(),
                var: var.to_owned(),
                account: account.to_string(),
                stored: true,
                referenced: false,
            });
        }
    }
    rows.sort_by(|a, b| (&a.server, &a.var).cmp(&(&b.server, &b.var)));
    if json {
        let shown: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "server": r.server,
                    "var": r.var,
                    "stored": r.stored,
                    "referenced": r.referenced,
                    "service": vault.service(),
                    "account": r.account,
                })
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&shown).expect("json"));
        return Ok(());
    }
    if rows.is_empty() {
        out!("no secrets; store one with `patchbay secret set NAME VAR`");
        return Ok(());
    }
    for r in &rows {
        let state = match (r.stored, r.referenced) {
            (true, true) => "stored",
            (false, _) => "MISSING (the server will not start)",
            (true, false) => "stored, not used by any configured server",
        };
        out!("{:<20} {:<24} {state}", r.server, r.var);
    }
    Ok(())
}

fn rm(paths: &Paths, name: &str, var: &str) -> Result {
    Account::env(name, var).map_err(vault_failure)?;
    let vault = Vault::for_paths(paths);
    let deleted = keychain(vault.delete_env(name, var)).map_err(vault_failure)?;
    if !deleted {
        return Err(Failure::new(
            Kind::NotFound,
            format!("no secret `{var}` is stored for server `{name}`"),
        )
        .hint("`patchbay secret list` shows what is stored"));
    }
    eprintln!("deleted `{var}` of server `{name}` from the keychain");
    let still_used = Config::load(&paths.config_file)
        .ok()
        .and_then(|c| {
            c.servers
                .get(name)
                .map(|s| s.secret_env.iter().any(|v| v == var))
        })
        .unwrap_or(false);
    if still_used {
        eprintln!(
            "note: `servers.{name}.secret_env` still lists `{var}`: the server will not start until it is set again"
        );
    }
    Ok(())
}

/// Store `values` (by variable) for server `name` in the keychain; on a failure, the ones
/// stored already are deleted again, so nothing is left half-stored.
pub(crate) fn store_all(
    paths: &Paths,
    name: &str,
    values: &std::collections::BTreeMap<String, String>,
) -> Result {
    let vault = Vault::for_paths(paths);
    let mut stored = Vec::new();
    for (var, value) in values {
        if let Err(err) = keychain(vault.set_env(name, var, &Secret::new(value.clone()))) {
            forget_server(paths, name, &stored);
            return Err(vault_failure(err));
        }
        stored.push(var.clone());
    }
    Ok(())
}

/// After `patchbay remove NAME`: delete what the vault holds for that server. A keychain that
/// cannot be reached is only worth a warning when the server had secrets.
pub fn forget_server(paths: &Paths, name: &str, secret_env: &[String]) {
    let vault = Vault::for_paths(paths);
    match keychain(vault.forget_server(name, secret_env)) {
        Ok(deleted) if !deleted.is_empty() => {
            eprintln!("deleted {} keychain entries of `{name}`", deleted.len())
        }
        Ok(_) => {}
        Err(err) if !secret_env.is_empty() => {
            eprintln!("warning: the keychain entries of `{name}` were not deleted: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
        }
        Err(err) => tracing::debug!(server = name, "keychain not cleaned up: {err}"),
    }
}

/// After `patchbay add NAME --secret-env VAR`: say which values still need storing.
pub fn report_missing(paths: &Paths, name: &str, secret_env: &[String]) {
    if secret_env.is_empty() {
        return;
    }
    let vault = Vault::for_paths(paths);
    match keychain(vault.env_values(name, secret_env)) {
        Ok((_, missing)) => {
            for var in missing {
                eprintln!(
                    "hint: store the value of `{var}` with `patchbay secret set {name} {var}`; the server will not start without it"
                );
            }
        }
        Err(err) => {
            eprintln!("warning: cannot check the keychain for the secrets of `{name}`: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
        }
    }
}

/// `doctor`'s keychain line: reachable or not; a failure only when a configured server needs it.
pub fn keychain_check(paths: &Paths, config: Option<&Config>) -> crate::commands::Check {
    let needed: Vec<&String> = config
        .map(|c| {
            c.enabled_servers()
                .filter(|(_, s)| !s.secret_env.is_empty())
                .map(|(name, _)| name)
                .collect()
        })
        .unwrap_or_default();
    let vault = Vault::for_paths(paths);
    match keychain(vault.check()) {
        Ok(()) => crate::commands::Check {
            name: "keychain",
            ok: true,
            detail: format!("reachable (entries under service `{}`)", vault.service()),
            hint: None,
        },
        Err(err) => crate::commands::Check {
            name: "keychain",
            ok: needed.is_empty(),
            detail: if needed.is_empty() {
                format!("{err} (no configured server needs it yet)")
            } else {
                format!(
                    "{err}; needed by {}",
                    needed
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            hint: err.hint(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::piped;

    #[test]
    fn a_piped_secret_loses_one_line_break_and_nothing_else() {
        let read = |s: &str| piped(s.as_bytes()).unwrap();
        assert_eq!(
            read("s3cret\n"),
            "s3cret",
            "echo's line break is not the secret's"
        );
        assert_eq!(read("s3cret\r\n"), "s3cret", "nor a Windows one");
        assert_eq!(read("s3cret"), "s3cret");
        assert_eq!(
            read(" s3 cret \n\n"),
            " s3 cret \n",
            "only one break goes; spaces stay"
        );
        assert_eq!(read(""), "");
        assert!(piped(&[0xff, 0xfe][..]).is_err(), "not UTF-8: refused");
    }
}
