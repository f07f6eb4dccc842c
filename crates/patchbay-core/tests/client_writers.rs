//! Golden tests of the client config writers: for every client, what `install` writes into a
//! missing file, an empty file, a file with other servers and unknown keys (with comments and
//! trailing commas for JSONC and TOML clients), a file whose `patchbay` entry was changed by
//! hand, and a second install (nothing changes). Expected files are insta snapshots in
//! `tests/snapshots/` (`client_writers__<client>__<case>.snap`); `INSTA_UPDATE=always cargo test
//! --test client_writers` rewrites them (review the diff). Inputs are in `tests/inputs/`.

mod common;

use std::path::{Path, PathBuf};

use common::{Sandbox, input};
use patchbay_core::clients::catalog::{CLIENTS, ClientSpec, Remote};
use patchbay_core::clients::{self, EntryState, InstallOptions, Outcome};
use patchbay_core::config::ConfigError;

fn check_snapshot(spec: &ClientSpec, case: &str, actual: &str) {
    // insta compares text up to its last line break; a writer must leave one.
    assert!(
        actual.ends_with('\n'),
        "{} `{case}`: the file does not end in a line break",
        spec.id
    );
    // An absolute folder: insta otherwise finds the workspace with `cargo metadata`, which the
    // Windows lane's executables under wine cannot run.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.bind(|| insta::assert_snapshot!(format!("{}__{case}", spec.id), actual));
}

fn install(sandbox: &Sandbox, spec: &'static ClientSpec, direct: bool) -> Outcome {
    let options = InstallOptions {
        direct,
        profile: None,
    };
    sandbox
        .session()
        .install(spec, &options)
        .unwrap_or_else(|e| panic!("install into {}: {e}", spec.id))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn file_of(sandbox: &Sandbox, spec: &ClientSpec) -> PathBuf {
    sandbox.context().config_path(spec)
}

/// Uninstall leaves what a client reads exactly as it was before install (the VS Code input,
/// tables and keys install made for our entry go too).
fn uninstall_gives_back(sandbox: &Sandbox, spec: &'static ClientSpec, path: &Path, before: &str) {
    sandbox.session().uninstall(spec).unwrap();
    assert_eq!(
        common::parsed(spec, &read(path)),
        common::parsed(spec, before),
        "{}: uninstall gives back the original content",
        spec.id
    );
}

#[test]
fn missing_file_and_directory_are_created_with_only_our_entry() {
    for spec in CLIENTS {
        let sandbox = Sandbox::new();
        let path = file_of(&sandbox, spec);
        assert!(!path.parent().unwrap().exists());
        let outcome = install(&sandbox, spec, false);
        assert_eq!(
            outcome,
            Outcome::Written {
                path: path.clone(),
                created: true
            }
        );
        check_snapshot(spec, "missing", &read(&path));
        assert_eq!(
            clients::status(&sandbox.context(), spec).entry,
            EntryState::Intact
        );
    }
}

#[test]
fn empty_file_gets_our_entry() {
    for spec in CLIENTS {
        let sandbox = Sandbox::new();
        let path = sandbox.write_client_file(spec, "");
        install(&sandbox, spec, false);
        check_snapshot(spec, "empty", &read(&path));
    }
}

#[test]
fn other_servers_unknown_keys_and_comments_are_kept() {
    for spec in CLIENTS {
        let sandbox = Sandbox::new();
        let original = input(spec, "others");
        let path = sandbox.write_client_file(spec, &original);
        install(&sandbox, spec, false);
        let written = read(&path);
        check_snapshot(spec, "others", &written);
        // Every line of the original is still there, in order (comments included).
        let mut lines = written.lines();
        for line in original.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                lines
                    .any(|w| w.trim_end().trim_end_matches(',')
                        == line.trim_end().trim_end_matches(',')),
                "{}: line {line:?} of the original was lost:\n{written}",
                spec.id
            );
        }
        let other_servers = clients::foreign_servers(&sandbox.context(), spec).unwrap();
        assert!(
            other_servers.iter().any(|s| s.name == "github"),
            "{}",
            spec.id
        );
        assert!(
            !other_servers.iter().any(|s| s.name == "patchbay"),
            "our own entry is never offered for import"
        );

        let again = install(&sandbox, spec, false);
        assert!(
            matches!(again, Outcome::Unchanged { .. }),
            "{}: second install must change nothing",
            spec.id
        );
        assert_eq!(read(&path), written, "{}: idempotent", spec.id);

        uninstall_gives_back(&sandbox, spec, &path, &original);
    }
}

#[test]
fn entry_changed_by_hand_is_reported_and_repaired_keeping_client_keys() {
    for spec in CLIENTS {
        let sandbox = Sandbox::new();
        let path = sandbox.write_client_file(spec, &input(spec, "changed"));
        let ctx = sandbox.context();
        assert_eq!(clients::status(&ctx, spec).entry, EntryState::Changed);
        install(&sandbox, spec, false);
        check_snapshot(spec, "changed", &read(&path));
        assert_eq!(clients::status(&ctx, spec).entry, EntryState::Intact);
    }
}

#[test]
fn entry_dropped_by_the_client_is_missing_until_install_repairs_it() {
    let spec = clients::find("claude-desktop").unwrap();
    let sandbox = Sandbox::new();
    let path = sandbox.write_client_file(spec, &input(spec, "others"));
    install(&sandbox, spec, false);
    let ctx = sandbox.context();
    // What Claude Desktop has been seen to do: rewrite the file without `mcpServers`.
    std::fs::write(&path, "{\n  \"theme\": \"dark\"\n}\n").unwrap();
    let row = clients::status(&ctx, spec);
    assert_eq!(row.entry, EntryState::Missing, "{row:?}");
    assert!(!row.installed);
    install(&sandbox, spec, false);
    assert_eq!(clients::status(&ctx, spec).entry, EntryState::Intact);
}

#[test]
fn direct_entries_never_hold_the_secret() {
    for spec in CLIENTS {
        let sandbox = Sandbox::new();
        let config_file = sandbox.context().paths.config_file;
        std::fs::create_dir_all(config_file.parent().unwrap()).unwrap();
        std::fs::write(&config_file, "[hub]\nport = 45999\n").unwrap();
        let path = sandbox.write_client_file(spec, &input(spec, "others"));
        let before = read(&path);
        let result = sandbox.session().install(
            spec,
            &InstallOptions {
                direct: true,
                profile: None,
            },
        );
        match spec.remote {
            Remote::Refused(_) => {
                let err = result.expect_err("refused clients refuse --direct");
                assert!(
                    err.to_string().contains("cannot take a direct entry"),
                    "{err}"
                );
                assert_eq!(read(&path), before, "{}: a refusal writes nothing", spec.id);
            }
            Remote::Supported(_) => {
                result.unwrap();
                let written = read(&path);
                check_snapshot(spec, "direct", &written);
                assert!(written.contains("http://127.0.0.1:45999/mcp"), "{written}");
                assert!(written.contains("PATCHBAY_BEARER") || written.contains("${input:"));
                let row = clients::status(&sandbox.context(), spec);
                assert_eq!(row.entry, EntryState::Intact, "{row:?}");
                uninstall_gives_back(&sandbox, spec, &path, &before);
            }
        }
    }
}

#[test]
fn unparseable_files_are_refused_and_left_byte_for_byte() {
    let cases: &[(&str, &[u8], usize)] = &[
        ("claude-desktop", b"{\n  \"mcpServers\": {\n    \"a\": {", 3),
        ("cursor", b"\xef\xbb\xbf{\"mcpServers\": {}}", 1),
        (
            "claude-code",
            b"{\"mcpServers\": {},\n \"mcpServers\": {}}",
            2,
        ),
        (
            "gemini-cli",
            b"// Gemini reads comments\n{\"mcpServers\": {},\n}\n",
            2,
        ),
        ("cline", b"{\"mcpServers\": {\"a\": 1,}}", 1),
        ("windsurf", b"{\"mcpServers\": [1, 2]}", 1),
        ("zed", b"{\n  \"context_servers\": {\n    \"a\": {}\n", 2),
        ("vscode", b"{\"servers\": {\"a\": 1, \"a\": 2}}", 1),
        ("codex", b"model = \"x\"\n[mcp_servers.a\ncommand = 1\n", 2),
        ("lm-studio", b"{\"mcpServers\": {\"a\": \"\xff\"}}", 1),
    ];
    for (id, bytes, line_expected) in cases {
        let spec = clients::find(id).unwrap();
        let sandbox = Sandbox::new();
        let path = sandbox.write_client_file(spec, "");
        std::fs::write(&path, bytes).unwrap();
        for attempt in ["install", "uninstall"] {
            let err = match attempt {
                "install" => sandbox
                    .session()
                    .install(spec, &InstallOptions::default())
                    .unwrap_err(),
                _ => sandbox.session().uninstall(spec).unwrap_err(),
            };
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("{}:", path.display())),
                "{id}: the error names the file: {shown}"
            );
            assert!(
                matches!(
                    err,
                    clients::ClientError::Unparseable(ConfigError::Parse { line, column, .. })
                        if line == *line_expected && column >= 1
                ),
                "{id}: {err:?}"
            );
            assert_eq!(
                &std::fs::read(&path).unwrap(),
                bytes,
                "{id}: file untouched"
            );
        }
        assert!(
            clients::backups(&sandbox.context(), spec)
                .unwrap()
                .is_empty(),
            "{id}: nothing changed, so nothing was backed up"
        );
        assert!(clients::status(&sandbox.context(), spec).error.is_some());
    }
}

/// Unix file modes and symlinks (Windows has neither in this form; its ACLs are inherited by the
/// temp file, which is made in the same directory).
#[cfg(unix)]
#[test]
fn file_mode_is_kept_and_symlinks_are_followed() {
    use std::os::unix::fs::PermissionsExt;
    let spec = clients::find("cursor").unwrap();
    let sandbox = Sandbox::new();
    let real = sandbox.root().join("dotfiles/mcp.json");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, input(spec, "others")).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = file_of(&sandbox, spec);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    install(&sandbox, spec, false);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink stays a symlink"
    );
    assert!(
        read(&real).contains("\"patchbay\""),
        "the target was edited"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the file's mode is kept");
}

#[test]
fn backups_are_taken_once_per_session_and_restore_puts_them_back() {
    let spec = clients::find("zed").unwrap();
    let sandbox = Sandbox::new();
    let original = input(spec, "others");
    let path = sandbox.write_client_file(spec, &original);
    let mut session = sandbox.session();
    session.install(spec, &InstallOptions::default()).unwrap();
    session.uninstall(spec).unwrap();
    session.install(spec, &InstallOptions::default()).unwrap();
    let ctx = sandbox.context();
    let taken = clients::backups(&ctx, spec).unwrap();
    assert_eq!(taken.len(), 1, "one backup for the session: {taken:?}");
    assert_eq!(read(&taken[0].path), original);

    let installed = read(&path);
    let restored = sandbox.session().restore(spec, None).unwrap();
    assert_eq!(restored.path, taken[0].path);
    assert_eq!(
        read(&path),
        original,
        "restore puts the backup back byte for byte"
    );
    let after = clients::backups(&ctx, spec).unwrap();
    assert_eq!(after.len(), 2, "restore backed up what it replaced");
    assert_eq!(read(&after[0].path), installed);

    // A backup of a file that did not exist: restoring it removes the file.
    let spec = clients::find("lm-studio").unwrap();
    install(&sandbox, spec, false);
    let path = file_of(&sandbox, spec);
    assert!(path.exists());
    let restored = sandbox.session().restore(spec, None).unwrap();
    assert!(restored.absent);
    assert!(
        !path.exists(),
        "restoring an absent backup removes the file"
    );
    let err = sandbox
        .session()
        .restore(clients::find("codex").unwrap(), None)
        .unwrap_err();
    assert!(err.to_string().contains("no backups"), "{err}");
}

#[test]
fn switching_vscode_from_direct_to_bridge_drops_the_bearer_prompt() {
    let spec = clients::find("vscode").unwrap();
    let sandbox = Sandbox::new();
    let config_file = sandbox.context().paths.config_file;
    std::fs::create_dir_all(config_file.parent().unwrap()).unwrap();
    std::fs::write(&config_file, "[hub]\nport = 45999\n").unwrap();
    let original = input(spec, "others");
    let path = sandbox.write_client_file(spec, &original);
    install(&sandbox, spec, true);
    assert!(read(&path).contains("patchbay-bearer"));
    install(&sandbox, spec, false);
    check_snapshot(spec, "others", &read(&path));
    uninstall_gives_back(&sandbox, spec, &path, &original);
}

#[test]
fn a_profile_must_exist_and_then_the_bridge_entry_serves_it() {
    let spec = clients::find("cursor").unwrap();
    let sandbox = Sandbox::new();
    let work = InstallOptions {
        direct: false,
        profile: Some("work".into()),
    };
    let err = sandbox.session().install(spec, &work).unwrap_err();
    assert!(err.to_string().contains("no profile named `work`"), "{err}");
    assert!(!file_of(&sandbox, spec).exists(), "nothing written");

    let config = sandbox.context().paths.config_file.clone();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[profiles.work]\nservers = [\"a\"]\n").unwrap();
    sandbox.session().install(spec, &work).unwrap();
    let written: serde_json::Value = serde_json::from_str(&read(&file_of(&sandbox, spec))).unwrap();
    assert_eq!(
        written["mcpServers"]["patchbay"]["args"],
        serde_json::json!(["bridge", "--profile", "work"])
    );
    let row = clients::status(&sandbox.context(), spec);
    assert_eq!(row.entry, EntryState::Intact);
    assert_eq!(row.profile.as_deref(), Some("work"));
}

#[test]
fn listing_covers_every_client() {
    let sandbox = Sandbox::new();
    let spec = clients::find("cursor").unwrap();
    install(&sandbox, spec, false);
    let rows = clients::listing(&sandbox.context());
    assert_eq!(rows.len(), CLIENTS.len());
    let cursor = rows.iter().find(|r| r.id == "cursor").unwrap();
    assert!(cursor.detected && cursor.installed && cursor.entry == EntryState::Intact);
    assert_eq!(cursor.tool_limit, Some(40));
    let zed = rows.iter().find(|r| r.id == "zed").unwrap();
    assert!(!zed.detected && !zed.installed && zed.entry == EntryState::NotInstalled);
    let json = serde_json::to_value(&rows).unwrap();
    assert_eq!(json[1]["entry"], "intact", "{json}");
}
