//! Gemini CLI's `~/.gemini/settings.json` with comments (Gemini strips `//` and `/* */` before
//! parsing): install and uninstall edit it in place, and every byte outside our entry stays as
//! the user wrote it, comments included.

mod common;

use common::Sandbox;
use patchbay_core::clients::{self, EntryState, InstallOptions, Outcome};

const SETTINGS: &str = r#"// Gemini CLI settings, edited by hand.
{
  /* the look */
  "theme": "GitHub", // a trailing note
  "mcpServers": {
    // my time server
    "time": {
      "command": "uvx",
      "args": ["mcp-server-time"] /* pinned later */
    }
  },
  // what I allow
  "coreTools": ["ReadFileTool"]
}
"#;

/// `written` is `original` with one run of text inserted: the bytes before and after it are the
/// user's, unchanged. Returns the inserted text.
fn inserted<'a>(original: &str, written: &'a str) -> &'a str {
    let head = original
        .bytes()
        .zip(written.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let tail = original[head..]
        .bytes()
        .rev()
        .zip(written[head..].bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(
        head + tail,
        original.len(),
        "install changed more than one place of the user's text:\n{written}"
    );
    &written[head..written.len() - tail]
}

#[test]
fn gemini_settings_with_comments_are_edited_keeping_every_comment() {
    let sandbox = Sandbox::new();
    let spec = clients::find("gemini-cli").unwrap();
    let path = sandbox.write_client_file(spec, SETTINGS);

    let outcome = sandbox
        .session()
        .install(spec, &InstallOptions::default())
        .expect("a settings file with comments is Gemini's own format, not an error");
    assert!(matches!(outcome, Outcome::Written { .. }), "{outcome:?}");
    let written = std::fs::read_to_string(&path).unwrap();
    let added = inserted(SETTINGS, &written);
    assert!(
        added.contains("\"patchbay\"") && added.contains(common::EXE),
        "the one insertion is our entry: {added:?}"
    );
    assert!(
        !added.contains("//") && !added.contains("/*"),
        "no comment of ours: {added:?}"
    );
    let value = common::parsed(spec, &written);
    assert_eq!(value["mcpServers"]["time"]["command"], "uvx", "{written}");
    assert_eq!(value["mcpServers"]["patchbay"]["args"][0], "bridge");
    assert_eq!(
        clients::status(&sandbox.context(), spec).entry,
        EntryState::Intact
    );

    let again = sandbox
        .session()
        .install(spec, &InstallOptions::default())
        .unwrap();
    assert!(matches!(again, Outcome::Unchanged { .. }), "{again:?}");

    sandbox.session().uninstall(spec).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        SETTINGS,
        "uninstall gives the user's text back byte for byte"
    );
}

#[test]
fn gemini_settings_gemini_cannot_read_are_refused_untouched() {
    let sandbox = Sandbox::new();
    let spec = clients::find("gemini-cli").unwrap();
    // A trailing comma: Gemini CLI strips comments, then JSON.parse fails on it.
    let broken = "// mine\n{\n  \"mcpServers\": {},\n}\n";
    let path = sandbox.write_client_file(spec, broken);
    let err = sandbox
        .session()
        .install(spec, &InstallOptions::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3:", path.display())),
        "the error names file, line and column: {err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}
