//! Shared helpers of the client writer tests: a sandbox with its own Patchbay home and user home
//! (nothing touches the real home), input fixtures, and parsing a written file back.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchbay_core::clients::catalog::{ClientSpec, Format};
use patchbay_core::clients::document::Document;
use patchbay_core::clients::{Context, Homes, Session};
use patchbay_core::paths::Paths;
use patchbay_core::platform::Os;

/// The binary path every snapshot shows.
pub const EXE: &str = "/opt/patchbay/bin/patchbay";

/// A temporary installation: Patchbay's files and a user home, both under one temp dir.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn context(&self) -> Context {
        context_at(self.root())
    }

    pub fn session(&self) -> Session {
        Session::new(self.context())
    }

    /// Write a client's config file (making its directory) and return its path.
    pub fn write_client_file(&self, spec: &ClientSpec, text: &str) -> PathBuf {
        let path = self.context().config_path(spec);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// The writers' view of an installation under `root` (Linux layout, fixed binary path).
pub fn context_at(root: &Path) -> Context {
    Context {
        paths: Paths::under(&root.join("patchbay")),
        homes: Homes::under(&root.join("home"), Os::Linux),
        os: Os::Linux,
        exe: PathBuf::from(EXE),
        bridge_env: BTreeMap::new(),
    }
}

pub fn inputs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inputs")
}

/// An input fixture for this client's format, with its servers key filled in.
pub fn input(spec: &ClientSpec, case: &str) -> String {
    let ext = match spec.format {
        // Gemini CLI's comments are tested in `client_comments.rs`; strict JSON fixtures here.
        Format::Json | Format::JsonComments => "json",
        Format::Jsonc => "jsonc",
        Format::Toml => "toml",
    };
    let path = inputs_dir().join(format!("{case}.{ext}"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("KEY", spec.servers_key)
}

/// What a client reads from `text`: its parsed value (comments and layout aside).
pub fn parsed(spec: &ClientSpec, text: &str) -> serde_json::Value {
    Document::parse(spec.format, text)
        .unwrap_or_else(|p| panic!("{}: {p:?}\n{text}", spec.id))
        .value()
}
