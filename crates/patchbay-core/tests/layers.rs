//! The core's map holds: the leaves import nothing of the crate, and no two top-level modules
//! import each other, directly or around a loop (see the map in `src/lib.rs`).
//!
//! Imports are read from the source: every `crate::NAME` path (also inside `use crate::{...}`
//! groups) outside comments and outside the unit tests at the end of a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that must import nothing of the crate.
const LEAVES: &[&str] = &[
    "platform", "exec", "names", "human", "files", "sse", "secret", "logs",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every top-level module and the files it is made of.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "bin" {
            continue;
        }
        let files = modules.entry(name).or_default();
        if path.is_dir() {
            let mut stack = vec![path];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        files.push(path);
                    }
                }
            }
        } else {
            files.push(path);
        }
    }
    modules
}

/// The code of a file without comments and without its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names as `crate::NAME`.
fn imports(code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                found.insert(name.to_owned());
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            found.insert(rest[..end].to_owned());
        }
    }
    found.retain(|name| known.contains(name));
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, files)| {
            let mut deps = BTreeSet::new();
            for file in files {
                deps.extend(imports(&code(file), &known));
            }
            deps.remove(name);
            (name.clone(), deps)
        })
        .collect()
}

/// A loop through `from`, if there is one: the path back to it.
fn loop_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in &graph[&at] {
            if next == from {
                let mut found = path.clone();
                found.push(from.to_owned());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_top_level_module_imports_itself_around_a_loop() {
    let graph = graph();
    assert!(graph.len() >= 20, "modules found: {:?}", graph.keys());
    assert!(
        graph["hub"].contains("config"),
        "the reader must see imports"
    );
    let loops: Vec<String> = graph
        .keys()
        .filter_map(|m| loop_through(&graph, m))
        .map(|path| path.join(" -> "))
        .collect();
    assert!(loops.is_empty(), "import loops:\n{}", loops.join("\n"));
}

#[test]
fn the_leaves_import_nothing_of_the_crate() {
    let graph = graph();
    for leaf in LEAVES {
        let deps = graph
            .get(*leaf)
            .unwrap_or_else(|| panic!("no module {leaf}"));
        assert!(deps.is_empty(), "{leaf} imports {deps:?}");
    }
}

#[test]
fn the_import_reader_sees_groups_and_paths() {
    let known: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let found = imports(
        "use crate::{a::X, b};\nlet x = crate::c::f();\nuse crate::d;",
        &known,
    );
    assert_eq!(found, known);
}
