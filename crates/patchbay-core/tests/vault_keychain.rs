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

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
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
    let listed = vault.accounts().await.unwrap().unwrap();
    assert_eq!(
        listed.len(),
        1,
        "chunks are not listed as records: {listed:?}"
    );
    assert_eq!(
        vault.load_tokens("remote").await.unwrap(),
        Some(tokens.clone())
    );

    // Rotation: a new refresh token replaces the set; a second process sees only the new one.
    let mut rotated = tokens.clone();
    rotated.refresh_token = Some(Secret::new("refresh-rotated-".repeat(200)));
    vault.store_tokens("remote", &rotated).await.unwrap();
    let again = Vault::keychain(vault.service().to_owned());
    assert_eq!(again.load_tokens("remote").await.unwrap(), Some(rotated));

    let deleted = vault.forget_server("remote", &[]).await.unwrap();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(lookup(&vault, "server/remote/oauth"), None);
    let left = Command::new("secret-tool")
        .args(["search", "--all", "service", vault.service()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty()
            && !String::from_utf8_lossy(&left.stderr).contains("username"),
        "no chunk left behind:\n{}{}",
        String::from_utf8_lossy(&left.stdout),
        String::from_utf8_lossy(&left.stderr)
    );
}
