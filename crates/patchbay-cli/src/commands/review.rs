//! `patchbay tools changes` and `patchbay tools accept`: tools the hub holds back because their
//! server changed their definitions since they were accepted (`hub::review`).

use patchbay_core::api::AcceptToolChanges;
use patchbay_core::control;
use patchbay_core::hub::review::{FieldChange, ToolChange};
use patchbay_core::paths::Paths;
use serde_json::Value;

use super::{Result, client_failure, running_hub, runtime};

/// `tools changes [--json]`.
pub(crate) fn changes(paths: &Paths, json: bool) -> Result {
    let found = running_hub(paths)?;
    let changes: Vec<ToolChange> = runtime()
        .block_on(async { control::Client::new(&found)?.tool_changes().await })
        .map_err(client_failure)?;
    if json {
        out!("{}", serde_json::to_string_pretty(&changes).expect("json"));
        return Ok(());
    }
    if changes.is_empty() {
        eprintln!("no tool changes are held back");
        return Ok(());
    }
    for change in &changes {
        out!("{}", shown(change));
    }
    eprintln!(
        "held back from every client until accepted: `patchbay tools accept SERVER [TOOL...]`"
    );
    Ok(())
}

/// `tools accept SERVER [TOOL...]`.
pub(crate) fn accept(paths: &Paths, server: &str, tools: &[String]) -> Result {
    let found = running_hub(paths)?;
    let request = AcceptToolChanges {
        server: server.to_owned(),
        tools: tools.to_vec(),
    };
    let count = runtime()
        .block_on(async {
            control::Client::new(&found)?
                .accept_tool_changes(&request)
                .await
        })
        .map_err(client_failure)?;
    eprintln!(
        "accepted {count} changed tool{} of `{server}`: clients get {} again",
        if count == 1 { "" } else { "s" },
        if count == 1 { "it" } else { "them" }
    );
    Ok(())
}

/// A change as a person reads it: the tool, then each field as a line diff.
fn shown(change: &ToolChange) -> String {
    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
    let mut text = format!(
        "{}/{}: {} changed\n",
        change.server,
        change.tool,
        fields.join(", ")
    );
    for field in &change.fields {
        text.push_str(&format!("  {}\n", field.field));
        text.push_str(&diff(field));
    }
    text
}

/// The field's lines, before and after: `-` only before, `+` only after, ` ` both.
fn diff(field: &FieldChange) -> String {
    let lines = |value: &Option<Value>| match value {
        None => "(none)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => serde_json::to_string_pretty(other).expect("json"),
    };
    let (before, after) = (lines(&field.before), lines(&field.after));
    let mut text = String::new();
    for change in similar::TextDiff::from_lines(&before, &after).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        text.push_str(&format!("    {sign} {}", change.value()));
        if !change.value().ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_shows_each_field_as_a_line_diff() {
        let change = ToolChange {
            server: "files".into(),
            tool: "read".into(),
            fields: vec![
                FieldChange {
                    field: "description".into(),
                    before: Some(json!("Read a file")),
                    after: Some(json!("Read a file and mail it")),
                },
                FieldChange {
                    field: "outputSchema".into(),
                    before: None,
                    after: Some(json!({"type": "object"})),
                },
            ],
        };
        let shown = shown(&change);
        assert!(
            shown.starts_with("files/read: description, outputSchema changed\n"),
            "{shown}"
        );
        assert!(
            shown.contains("    - Read a file\n    + Read a file and mail it\n"),
            "{shown}"
        );
        assert!(
            shown.contains("    - (none)\n    + {\n    +   \"type\": \"object\"\n    + }\n"),
            "{shown}"
        );
    }
}
