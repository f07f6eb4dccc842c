//! The vault against the real OS keychain, read back by a separate process: on Linux GNOME
//! Keyring's Secret Service on a session bus (as `scripts/keyring-session` provides), read with
//! `secret-tool`; on Windows Credential Manager (also under wine, `scripts/windows-test`), read
//! by this test executable started again as a child that opens the keychain by itself.
//!
//! Outside such a session a developer's run skips these with a message; `scripts/test` sets
//! `PATCHBAY_REQUIRE_KEYRING=1`, and then an unreachable keychain fails them.

use std::io::Write;
use std::process::Command;

use patchbay_core::secret::Secret;
use patchbay_core::vault::{TokenSet, Vault, VaultError};

/// A vault under a service name of its own, or `None` (skip) when no keychain is reachable and
/// none is required.
async fn keychain(test: &str) -> Option<Vault> {
    let mut tag = [0u8; 6];
    getrandom::fill(&mut tag).unwrap();
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let vault = Vault::keychain(format!("patchbay-test-{test}-{tag}"));
    match vault.check().await {
        Ok(()) => Some(vault),
        Err(err) if std::env::var("PATCHBAY_REQUIRE_KEYRING").as_deref() == Ok("1") => {
            panic!(
                "PATCHBAY_REQUIRE_KEYRING=1 but the keychain is unreachable: {err} (hint: {:?})",
                err.hint()
            )
        }
        Err(err @ VaultError::Unavailable { .. }) => {
            // Straight to the stream: libtest hides `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED {test}: no keychain ({err}); run the tests with `scripts/test` or under `scripts/keyring-session --ephemeral -- cargo test`"
            );
            None
        }
        Err(err) => panic!("the keychain answered with an error: {err}"),
    }
}

/// `secret-tool lookup service S username A` in a separate process: the value, or `None`.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn lookup(vault: &Vault, account: &str) -> Option<Vec<u8>> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", vault.service(), "username", account])
        .output()
        .expect("secret-tool runs (bash scripts/deps.sh installs libsecret-tools)");
    out.status.success().then_some(out.stdout)
}

fn big_tokens() -> TokenSet {
    let long = |prefix: &str, n: usize| -> String {
        let mut s = prefix.to_owned();
        s.extend((0..n).map(|i| char::from(b'a' + (i % 26) as u8)));
        s
    };
    TokenSet {
        access_token: Secret::new(long("eyJaccess.", 4500)),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new(long("refresh.", 2600))),
        expires_at: Some(2_000_000_000),
        obtained_at: 1_999_996_400,
        scopes: vec!["mcp".into(), "offline_access".into()],
        issuer: "http://127.0.0.1:9/issuer".into(),
        client_id: "pb-client".into(),
        resource: "http://127.0.0.1:9/mcp".into(),
        token_endpoint: "http://127.0.0.1:9/token".into(),
        revocation_endpoint: Some("http://127.0.0.1:9/revoke".into()),
        grant: patchbay_core::vault::Grant::AuthorizationCode,
    }
}

/// The variable that turns [`read_back_for_another_process`] from a no-op into the reader:
/// `SERVICE\nACCOUNT`.
#[cfg(windows)]
const READ_BACK: &str = "PATCHBAY_TEST_READ_BACK";

/// This test executable started again with only [`read_back_for_another_process`] to run: a
/// second process with a keychain handle of its own reads `account`, the value or `None`.
#[cfg(windows)]
fn lookup(vault: &Vault, account: &str) -> Option<Vec<u8>> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "read_back_for_another_process", "--nocapture"])
        .env(READ_BACK, format!("{}\n{account}", vault.service()))
        .output()
        .expect("the test executable runs again");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the reader failed: {text}");
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("READ-BACK "))
        .unwrap_or_else(|| panic!("the reader said nothing: {text}"));
    (line != "none").then(|| {
        (0..line.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
            .collect()
    })
}

/// The reader half of [`lookup`]; does nothing unless started by it.
#[cfg(windows)]
#[test]
fn read_back_for_another_process() {
    use patchbay_core::vault::store::{Backend, Keychain};
    let Ok(spec) = std::env::var(READ_BACK) else {
        return;
    };
    let (service, account) = spec.split_once('\n').unwrap();
    let value = Keychain::new(service.to_owned()).get(account).unwrap();
    let shown = match value {
        Some(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        None => "none".to_owned(),
    };
    println!("READ-BACK {shown}");
}

/// The accounts under the vault's service that another process finds: Secret Service lists
/// them; Credential Manager is asked for each account the test knows of.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn left_behind(vault: &Vault, _known: &[String]) -> String {
    let left = Command::new("secret-tool")
        .args(["search", "--all", "service", vault.service()])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&left.stdout),
        String::from_utf8_lossy(&left.stderr),
    );
    if out.trim().is_empty() && !err.contains("username") {
        String::new()
    } else {
        format!("{out}{err}")
    }
}

#[cfg(windows)]
fn left_behind(vault: &Vault, known: &[String]) -> String {
    known
        .iter()
        .filter(|account| lookup(vault, account).is_some())
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every entry a chunked record's head names (`<account>#<generation>.<i>`), and the head.
#[cfg(any(
    windows,
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )
))]
fn head_and_chunks(account: &str, head: &[u8]) -> Vec<String> {
    let head = String::from_utf8_lossy(head);
    let mut fields = head.trim().split(':').skip(2);
    let (generation, count) = (fields.next().unwrap(), fields.next().unwrap());
    let mut all = vec![account.to_owned()];
    all.extend(
        (1..=count.parse::<usize>().unwrap()).map(|i| format!("{account}#{generation}.{i}")),
    );
    all
}

#[cfg(any(
    windows,
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )
))]
#[tokio::test]
async fn env_secret_is_stored_verbatim_and_read_back_by_another_process() {
    let Some(vault) = keychain("env").await else {
        return;
    };
    let value = Secret::new("sk-live-Ünïcode-42 with spaces");
    vault.set_env("demo", "API_KEY", &value).await.unwrap();
    assert_eq!(
        lookup(&vault, "server/demo/env/API_KEY").as_deref(),
        Some(value.expose().as_bytes()),
        "secret-tool must see exactly the stored value under the documented account"
    );
    assert_eq!(vault.env("demo", "API_KEY").await.unwrap(), Some(value));
    // Secret Service enumerates; Credential Manager is not asked to (the vault works from the
    // accounts it knows there).
    if let Some(listed) = vault.accounts().await.unwrap() {
        assert_eq!(listed.len(), 1, "{listed:?}");
    }
    assert!(vault.delete_env("demo", "API_KEY").await.unwrap());
    assert_eq!(
        lookup(&vault, "server/demo/env/API_KEY"),
        None,
        "deleted for real"
    );
    assert_eq!(vault.env("demo", "API_KEY").await.unwrap(), None);
}

/// Only Credential Manager needs chunks (`vault::chunk::entry_limit`).
#[cfg(windows)]
#[tokio::test]
async fn a_large_token_set_is_chunked_in_the_keychain_and_rotates_cleanly() {
    let Some(vault) = keychain("tokens").await else {
        return;
    };
    let tokens = big_tokens();
    vault.store_tokens("remote", &tokens).await.unwrap();
    let head = lookup(&vault, "server/remote/oauth").expect("the head entry exists");
    assert!(
        head.starts_with(b"patchbay-chunked:v1:") && head.len() < 200,
        "a 7 KB token set is stored as a head plus chunks"
    );
    let mut known = head_and_chunks("server/remote/oauth", &head);
    assert!(known.len() > 2, "7 KB takes several chunks: {known:?}");
    if let Some(listed) = vault.accounts().await.unwrap() {
        assert_eq!(
            listed.len(),
            1,
            "chunks are not listed as records: {listed:?}"
        );
    }
    assert_eq!(
        vault.load_tokens("remote").await.unwrap(),
        Some(tokens.clone())
    );

    // Rotation: a new refresh token replaces the set; a second process sees only the new one.
    let mut rotated = tokens.clone();
    rotated.refresh_token = Some(Secret::new("refresh-rotated-".repeat(200)));
    vault.store_tokens("remote", &rotated).await.unwrap();
    let head = lookup(&vault, "server/remote/oauth").expect("the head entry exists");
    known.extend(head_and_chunks("server/remote/oauth", &head));
    let again = Vault::keychain(vault.service().to_owned());
    assert_eq!(again.load_tokens("remote").await.unwrap(), Some(rotated));

    let deleted = vault.forget_server("remote", &[]).await.unwrap();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(lookup(&vault, "server/remote/oauth"), None);
    let left = left_behind(&vault, &known);
    assert!(left.is_empty(), "no chunk left behind:\n{left}");
}

/// The Secret Service items under the vault's service, by D-Bus object path, as `secret-tool`
/// in another process finds them.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn items(vault: &Vault) -> Vec<String> {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", vault.service()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut paths: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix('[')?.strip_suffix(']'))
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
#[tokio::test]
async fn a_large_token_set_is_one_item_rewritten_in_place() {
    let Some(vault) = keychain("in-place").await else {
        return;
    };
    let tokens = big_tokens();
    vault.store_tokens("remote", &tokens).await.unwrap();
    let item = items(&vault);
    assert_eq!(item.len(), 1, "a 7 KB token set is one item: {item:?}");
    let stored = lookup(&vault, "server/remote/oauth").expect("the item exists");
    assert!(
        stored.starts_with(b"{"),
        "the item holds the record, not a head"
    );

    let mut rotated = tokens.clone();
    for turn in 0..3 {
        rotated.refresh_token = Some(Secret::new(format!("refresh-{turn}-").repeat(300)));
        vault.store_tokens("remote", &rotated).await.unwrap();
        assert_eq!(
            items(&vault),
            item,
            "a refresh rewrites the same item, it does not add another"
        );
    }
    let again = Vault::keychain(vault.service().to_owned());
    assert_eq!(again.load_tokens("remote").await.unwrap(), Some(rotated));
    assert!(vault.delete_tokens("remote").await.unwrap());
    let left = left_behind(&vault, &[]);
    assert!(left.is_empty(), "deleted for real:\n{left}");
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
#[tokio::test]
async fn a_record_chunked_by_an_older_version_is_read_then_stored_whole() {
    use patchbay_core::platform::Os;
    use patchbay_core::vault::store::Keychain;
    let Some(vault) = keychain("migrate").await else {
        return;
    };
    // Patchbay 0.1 chunked large records on every OS, as the Windows layout still does.
    let service = vault.service().to_owned();
    let older = Vault::laid_out_for(
        service.clone(),
        std::sync::Arc::new(Keychain::new(service)),
        Os::Windows,
    );
    let tokens = big_tokens();
    older.store_tokens("remote", &tokens).await.unwrap();
    let head = lookup(&vault, "server/remote/oauth").expect("the head exists");
    let chunked = head_and_chunks("server/remote/oauth", &head);
    assert!(chunked.len() > 2, "the old record is chunked: {chunked:?}");
    let before = items(&vault);
    assert_eq!(before.len(), chunked.len());

    assert_eq!(
        vault.load_tokens("remote").await.unwrap(),
        Some(tokens.clone())
    );
    let mut rotated = tokens;
    rotated.refresh_token = Some(Secret::new("refresh-after-upgrade-".repeat(200)));
    vault.store_tokens("remote", &rotated).await.unwrap();
    let after = items(&vault);
    assert_eq!(after.len(), 1, "the chunks are gone: {after:?}");
    assert!(
        before.contains(&after[0]),
        "the head's item now holds the record (rewritten, not re-created)"
    );
    assert!(
        lookup(&vault, "server/remote/oauth")
            .unwrap()
            .starts_with(b"{")
    );
    let again = Vault::keychain(vault.service().to_owned());
    assert_eq!(again.load_tokens("remote").await.unwrap(), Some(rotated));
    assert_eq!(vault.forget_server("remote", &[]).await.unwrap().len(), 1);
    assert_eq!(items(&vault), Vec::<String>::new());
}
