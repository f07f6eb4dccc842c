//! The vault against the real OS keychain (on Linux: GNOME Keyring's Secret Service on a
//! session bus, as `scripts/keyring-session` provides), read back by a separate process
//! (`secret-tool`).
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
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
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
    let listed = vault
        .accounts()
        .await
        .unwrap()
        .expect("Secret Service enumerates");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(vault.delete_env("demo", "API_KEY").await.unwrap());
    assert_eq!(
        lookup(&vault, "server/demo/env/API_KEY"),
        None,
        "deleted for real"
    );
    assert_eq!(vault.env("demo", "API_KEY").await.unwrap(), None);
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
    assert_eq!(items(&vault), Vec::<String>::new(), "deleted for real");
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
#[tokio::test]
async fn a_record_chunked_by_an_older_version_is_read_then_stored_whole() {
    use patchbay_core::clients::catalog::Os;
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
    assert!(
        head.starts_with(b"patchbay-chunked:v1:"),
        "the old record is chunked"
    );
    let before = items(&vault);
    assert!(before.len() > 2, "a head and its chunks: {before:?}");

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
