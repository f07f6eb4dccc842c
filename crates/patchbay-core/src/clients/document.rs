//! One client config file in memory, edited without losing what Patchbay does not own.
//!
//! JSON and JSONC go through `jsonc-parser`'s concrete syntax tree, so whitespace, comments and
//! trailing commas outside the edited entry stay as the user wrote them; TOML goes through
//! `toml_edit`. Values cross this boundary as `serde_json::Value`, whatever the file's syntax.
//! A text that does not parse, or that a client would read differently from us (a byte-order
//! mark, a key given twice), is a [`Problem`] with a line and column, and is never edited.

use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::{CollectOptions, ParseOptions, ast};
use serde_json::{Map, Value};

use super::OWNED_KEYS;
use super::catalog::Format;

/// Why a text cannot be edited, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl Problem {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = crate::config::line_column(text, offset);
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

/// A parsed config file.
pub enum Document {
    /// JSON or JSONC.
    Json(CstRootNode),
    /// TOML.
    Toml(toml_edit::DocumentMut),
}

/// An entry's keys in the order Patchbay writes them (its own keys first, the rest sorted).
fn ordered(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut pairs: Vec<_> = map.iter().collect();
    pairs.sort_by_key(|(k, _)| {
        (
            OWNED_KEYS
                .iter()
                .position(|o| o == k)
                .unwrap_or(OWNED_KEYS.len()),
            k.to_string(),
        )
    });
    pairs
}

/// What the client's own parser accepts: JSONC loosely (comments, trailing commas, ...), Gemini
/// CLI's JSON with comments only, plain JSON nothing beyond the standard.
fn json_options(format: Format) -> ParseOptions {
    if format == Format::Jsonc {
        return ParseOptions::default();
    }
    ParseOptions {
        allow_comments: format == Format::JsonComments,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// The first key given twice in one object, as (offset, name).
fn duplicate_key(value: &ast::Value<'_>) -> Option<(usize, String)> {
    match value {
        ast::Value::Object(object) => {
            let mut seen = std::collections::HashSet::new();
            for prop in &object.properties {
                if !seen.insert(prop.name.as_str()) {
                    return Some((prop.range.start, prop.name.as_str().to_owned()));
                }
                if let Some(found) = duplicate_key(&prop.value) {
                    return Some(found);
                }
            }
            None
        }
        ast::Value::Array(array) => array.elements.iter().find_map(duplicate_key),
        _ => None,
    }
}

fn find_item(
    array: &jsonc_parser::cst::CstArray,
    id_field: &str,
    id: &str,
) -> Option<jsonc_parser::cst::CstNode> {
    array
        .elements()
        .into_iter()
        .find(|e| e.to_serde_value().is_some_and(|v| v[id_field] == id))
}

fn to_input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(to_input).collect()),
        Value::Object(map) => CstInputValue::Object(
            ordered(map)
                .into_iter()
                .map(|(k, v)| (k.clone(), to_input(v)))
                .collect(),
        ),
    }
}

fn to_toml_value(value: &Value) -> toml_edit::Value {
    match value {
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => toml_edit::Value::Array(items.iter().map(to_toml_value).collect()),
        Value::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (k, v) in ordered(map) {
                table.insert(k, to_toml_value(v));
            }
            toml_edit::Value::InlineTable(table)
        }
        // TOML has no null: an absent key says the same.
        Value::Null => "".into(),
    }
}

fn to_toml_table(map: &Map<String, Value>) -> toml_edit::Table {
    let mut table = toml_edit::Table::new();
    for (k, v) in ordered(map) {
        if !v.is_null() {
            table.insert(k, toml_edit::value(to_toml_value(v)));
        }
    }
    table
}

impl Document {
    /// Parse `text` (empty or blank means an empty document).
    pub fn parse(format: Format, text: &str) -> Result<Self, Problem> {
        if text.starts_with('\u{feff}') {
            return Err(Problem::at(
                text,
                0,
                "the file starts with a byte-order mark (BOM); save it as UTF-8 without one",
            ));
        }
        match format {
            Format::Json | Format::Jsonc | Format::JsonComments => Self::parse_json(format, text),
            Format::Toml => text
                .parse::<toml_edit::DocumentMut>()
                .map(Document::Toml)
                .map_err(|err| {
                    let offset = err.span().map_or(0, |s| s.start);
                    Problem::at(text, offset, err.message().trim_end())
                }),
        }
    }

    fn parse_json(format: Format, text: &str) -> Result<Self, Problem> {
        let options = json_options(format);
        let parsed = jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &options)
            .map_err(|err| Problem {
                line: err.line_display(),
                column: err.column_display(),
                message: err.kind().to_string(),
            })?;
        match &parsed.value {
            None | Some(ast::Value::Object(_)) => {}
            Some(_) => return Err(Problem::at(text, 0, "the top level is not a JSON object")),
        }
        if let Some((offset, name)) = parsed.value.as_ref().and_then(duplicate_key) {
            return Err(Problem::at(
                text,
                offset,
                format!("the key `{name}` is given twice in one object"),
            ));
        }
        let root = CstRootNode::parse(text, &options).map_err(|err| Problem {
            line: err.line_display(),
            column: err.column_display(),
            message: err.kind().to_string(),
        })?;
        Ok(Document::Json(root))
    }

    fn json_object(&self, key: &str) -> Result<Option<CstObject>, String> {
        let Document::Json(root) = self else {
            return Ok(None);
        };
        let Some(prop) = root.object_value().and_then(|o| o.get(key)) else {
            return Ok(None);
        };
        prop.object_value()
            .map(Some)
            .ok_or_else(|| format!("`{key}` is not an object"))
    }

    /// The whole document as a value.
    pub fn value(&self) -> Value {
        match self {
            Document::Json(root) => root
                .to_serde_value()
                .unwrap_or_else(|| Value::Object(Map::new())),
            Document::Toml(doc) => {
                toml::from_str::<Value>(&doc.to_string()).unwrap_or(Value::Object(Map::new()))
            }
        }
    }

    /// The object under the top-level `key`: `None` when absent, an error when not an object.
    pub fn table(&self, key: &str) -> Result<Option<Map<String, Value>>, String> {
        match self.value().get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(_) => Err(format!("`{key}` is not an object")),
        }
    }

    /// Set `key.name` to `entry`, replacing what was there (the table is made when missing).
    pub fn set_entry(&mut self, key: &str, name: &str, entry: &Map<String, Value>) {
        match self {
            Document::Json(root) => {
                let servers = root.object_value_or_set().object_value_or_set(key);
                let input = to_input(&Value::Object(entry.clone()));
                match servers.get(name) {
                    Some(prop) => prop.set_value(input),
                    None => {
                        servers.append(name, input);
                    }
                }
            }
            Document::Toml(doc) => {
                let table = doc.entry(key).or_insert_with(|| {
                    let mut t = toml_edit::Table::new();
                    t.set_implicit(true);
                    toml_edit::Item::Table(t)
                });
                if let Some(table) = table.as_table_like_mut() {
                    table.insert(name, toml_edit::Item::Table(to_toml_table(entry)));
                }
            }
        }
    }

    /// Remove `key.name`; whether it was there.
    pub fn remove_entry(&mut self, key: &str, name: &str) -> bool {
        match self {
            Document::Json(_) => match self
                .json_object(key)
                .ok()
                .flatten()
                .and_then(|o| o.get(name))
            {
                Some(prop) => {
                    prop.remove();
                    true
                }
                None => false,
            },
            Document::Toml(doc) => doc
                .get_mut(key)
                .and_then(toml_edit::Item::as_table_like_mut)
                .and_then(|t| t.remove(name))
                .is_some(),
        }
    }

    /// Remove the top-level `key` when it holds an empty object or array.
    pub fn remove_if_empty(&mut self, key: &str) {
        let empty = match self.value().get(key) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            _ => false,
        };
        if !empty {
            return;
        }
        match self {
            Document::Json(root) => {
                if let Some(prop) = root.object_value().and_then(|o| o.get(key)) {
                    prop.remove();
                }
            }
            Document::Toml(doc) => {
                doc.remove(key);
            }
        }
    }

    /// In the top-level array `key` (made when missing), replace the object whose `id_field` is
    /// `id` with `item`, or append it. JSON only; a no-op for TOML. An error when `key` holds
    /// something other than an array (it is left alone).
    pub fn upsert_item(
        &mut self,
        key: &str,
        id_field: &str,
        id: &str,
        item: &Value,
    ) -> Result<(), String> {
        let Document::Json(root) = self else {
            return Ok(());
        };
        let top = root.object_value_or_set();
        if top.get(key).is_some() && top.array_value(key).is_none() {
            return Err(format!("`{key}` is not an array"));
        }
        let array = top.array_value_or_set(key);
        match find_item(&array, id_field, id).and_then(|node| node.as_object()) {
            Some(object) => {
                object.replace_with(to_input(item));
            }
            None => {
                array.append(to_input(item));
            }
        }
        Ok(())
    }

    /// Remove the object whose `id_field` is `id` from the top-level array `key`; whether it
    /// was there.
    pub fn remove_item(&mut self, key: &str, id_field: &str, id: &str) -> bool {
        let Document::Json(root) = self else {
            return false;
        };
        let array = root.object_value().and_then(|o| o.array_value(key));
        match array.and_then(|a| find_item(&a, id_field, id)) {
            Some(node) => {
                node.remove();
                true
            }
            None => false,
        }
    }

    /// The text to write.
    pub fn render(&self) -> String {
        match self {
            Document::Json(root) => root.to_string(),
            Document::Toml(doc) => doc.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_line_and_column() {
        let cases = [
            // Truncated: the library points at the object that never closes.
            (Format::Json, "{\n  \"a\": 1,\n", 1),
            (Format::Json, "{\n  // note\n  \"a\": 1\n}", 2),
            (Format::Json, "{\"a\": 1,\n \"a\": 2}", 2),
            (Format::Jsonc, "{\n \"x\": {\"a\": 1, \"a\": 2}}", 2),
            (Format::Toml, "[a]\nb = \n", 2),
            (Format::Toml, "[a]\nb = 1\nb = 2\n", 3),
            (Format::Json, "[1, 2]", 1),
        ];
        for (format, text, line) in cases {
            let err = Document::parse(format, text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} must be refused"));
            assert_eq!(err.line, line, "{text:?}: {err:?}");
        }
        let bom = Document::parse(Format::Json, "\u{feff}{}").err().unwrap();
        assert!(bom.message.contains("byte-order mark"), "{bom:?}");
    }

    #[test]
    fn jsonc_accepts_comments_and_trailing_commas() {
        let doc = Document::parse(Format::Jsonc, "{\n // c\n \"a\": [1,],\n}").unwrap();
        assert_eq!(doc.value(), serde_json::json!({"a": [1]}));
    }

    #[test]
    fn json_with_comments_takes_comments_but_not_what_gemini_refuses() {
        let text = "// mine\n{\n /* block */ \"a\": [1] // end\n}\n";
        let doc = Document::parse(Format::JsonComments, text).unwrap();
        assert_eq!(doc.value(), serde_json::json!({"a": [1]}));
        // Gemini CLI strips comments and then parses strict JSON: these break its settings.
        for text in ["{\"a\": [1,]}", "{\"a\": 1,}", "{a: 1}", "{\"a\": 'x'}"] {
            assert!(
                Document::parse(Format::JsonComments, text).is_err(),
                "{text:?} must be refused"
            );
        }
    }
}
