//! Finding a program the way the platform's shell does.
//!
//! Server commands are written the way every README writes them: `npx -y pkg`, `uvx tool`,
//! `python3 server.py`. On unix `execvp` finds such a name on `PATH`, and so does this module.
//! On Windows the name is not the file: `npx` is `npx.cmd`, found by trying each extension of
//! `PATHEXT` (`.COM;.EXE;.BAT;.CMD` by default) in each `PATH` directory, as `cmd.exe` does;
//! `CreateProcess`, and so `std::process::Command`, tries only `.exe`. [`resolve`] turns the
//! name into the file's full path before a server is spawned. A `.cmd` or `.bat` file so found
//! is run by std through `cmd.exe`, with every argument quoted for it, and an argument it cannot
//! quote safely is refused rather than passed on.
//!
//! The rules are [`Lookup`], data a test can build for either platform on any platform.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// `PATHEXT` when the environment has none (what Windows sets by default, minus the scripting
/// hosts a server is never written as).
pub const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// How one platform finds a program on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The directories of `PATH`, in order.
    pub dirs: Vec<PathBuf>,
    /// Extensions tried after the bare name fails (Windows' `PATHEXT`); empty on unix.
    pub extensions: Vec<String>,
    /// Whether `\` separates path components (Windows) besides `/`.
    pub backslash: bool,
}

impl Lookup {
    /// The rules of the platform this runs on, with `PATH` (and on Windows `PATHEXT`) as given.
    pub fn native(path: Option<&OsStr>, pathext: Option<&OsStr>) -> Self {
        if cfg!(windows) {
            Self::windows(path, pathext)
        } else {
            Self::unix(path)
        }
    }

    /// The rules of this process's own environment.
    pub fn from_env() -> Self {
        Self::native(
            std::env::var_os("PATH").as_deref(),
            std::env::var_os("PATHEXT").as_deref(),
        )
    }

    /// The rules a server's child gets: its own `PATH` when its config sets one, else this
    /// process's; this process's `PATHEXT`.
    pub fn for_server(path: Option<&OsStr>) -> Self {
        let path = path
            .map(OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        Self::native(path.as_deref(), std::env::var_os("PATHEXT").as_deref())
    }

    /// Unix: the name in each `PATH` directory.
    pub fn unix(path: Option<&OsStr>) -> Self {
        Self {
            dirs: split(path),
            extensions: Vec::new(),
            backslash: false,
        }
    }

    /// Windows: each `PATHEXT` extension of the name in each `PATH` directory.
    pub fn windows(path: Option<&OsStr>, pathext: Option<&OsStr>) -> Self {
        let pathext = pathext
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_PATHEXT.to_owned());
        Self {
            dirs: split(path),
            extensions: pathext
                .split(';')
                .map(str::trim)
                .filter(|e| e.starts_with('.') && e.len() > 1)
                .map(str::to_ascii_lowercase)
                .collect(),
            backslash: true,
        }
    }

    /// Whether `program` names a file by its path (it has a directory part) rather than a
    /// name to look up.
    pub fn is_path(&self, program: &str) -> bool {
        program.contains('/') || (self.backslash && (program.contains('\\') || has_drive(program)))
    }

    /// The file candidates for `program`, in the order the platform tries them.
    pub fn candidates(&self, program: &str) -> Vec<PathBuf> {
        let names = self.names(program);
        if self.is_path(program) {
            return names.into_iter().map(PathBuf::from).collect();
        }
        self.dirs
            .iter()
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .collect()
    }

    /// `program`, then (Windows) `program` with each extension, unless it already has one of
    /// them.
    fn names(&self, program: &str) -> Vec<String> {
        let mut names = vec![program.to_owned()];
        let lower = program.to_ascii_lowercase();
        if !self.extensions.is_empty() && !self.extensions.iter().any(|e| lower.ends_with(e)) {
            // Windows tries the extensions first: `npx` with a file `npx` (no extension, a
            // unix shell script npm ships beside `npx.cmd`) must still be `npx.cmd`.
            names = self
                .extensions
                .iter()
                .map(|ext| format!("{program}{ext}"))
                .collect();
        }
        names
    }

    /// The first candidate for `program` that `runnable` accepts.
    pub fn find_with(&self, program: &str, runnable: impl Fn(&Path) -> bool) -> Option<PathBuf> {
        if program.is_empty() {
            return None;
        }
        self.candidates(program).into_iter().find(|c| runnable(c))
    }

    /// The first candidate for `program` that is a runnable file here.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        self.find_with(program, is_runnable)
    }
}

/// The program to hand to `Command::new` for a server's `command`, looked up with the server's
/// own `PATH` when its config sets one: on Windows the full path of the file `PATHEXT` finds (so
/// `npx` runs `npx.cmd`); elsewhere, and when nothing is found, the command as written (the
/// spawn then fails with the platform's own "not found").
pub fn resolve(command: &str, path: Option<&OsStr>) -> OsString {
    if !cfg!(windows) {
        return command.into();
    }
    match Lookup::for_server(path).find(command) {
        Some(found) => found.into_os_string(),
        None => command.into(),
    }
}

fn split(path: Option<&OsStr>) -> Vec<PathBuf> {
    path.map(|p| {
        std::env::split_paths(p)
            .filter(|d| !d.as_os_str().is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn has_drive(program: &str) -> bool {
    let bytes = program.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(unix)]
fn is_runnable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_runnable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn files(list: &[&str]) -> impl Fn(&Path) -> bool {
        let set: HashSet<PathBuf> = list.iter().map(PathBuf::from).collect();
        move |p: &Path| set.contains(p)
    }

    fn windows(dirs: &[&str], pathext: Option<&str>) -> Lookup {
        Lookup {
            dirs: dirs.iter().map(PathBuf::from).collect(),
            ..Lookup::windows(None, pathext.map(OsStr::new))
        }
    }

    #[test]
    fn windows_finds_npx_cmd_the_way_cmd_does() {
        let lookup = windows(&[r"C:\tools", r"C:\node"], None);
        let on_disk = files(&[r"C:\node/npx", r"C:\node/npx.cmd", r"C:\node/node.exe"]);
        assert_eq!(
            lookup.find_with("npx", &on_disk),
            Some(PathBuf::from(r"C:\node").join("npx.cmd")),
            "the extensionless unix script beside npx.cmd is not what Windows runs"
        );
        assert_eq!(
            lookup.find_with("node", &on_disk),
            Some(PathBuf::from(r"C:\node").join("node.exe"))
        );
        assert_eq!(lookup.find_with("uvx", &on_disk), None);
    }

    #[test]
    fn windows_tries_pathext_in_its_order_and_directories_first() {
        let lookup = windows(&[r"C:\a", r"C:\b"], Some(".EXE;.CMD"));
        let on_disk = files(&[r"C:\a/tool.cmd", r"C:\a/tool.exe", r"C:\b/tool.exe"]);
        assert_eq!(
            lookup.find_with("tool", &on_disk),
            Some(PathBuf::from(r"C:\a").join("tool.exe")),
            "the first directory wins, and within it PATHEXT's order"
        );
        assert_eq!(
            lookup.find_with("tool.cmd", &on_disk),
            Some(PathBuf::from(r"C:\a").join("tool.cmd")),
            "a name with a known extension is taken as it is"
        );
        assert_eq!(lookup.extensions, [".exe", ".cmd"]);
    }

    #[test]
    fn windows_paths_are_not_looked_up() {
        let lookup = windows(&[r"C:\node"], None);
        for program in [r"C:\node\npx", r".\npx", "C:npx", "sub/npx"] {
            assert!(lookup.is_path(program), "{program}");
        }
        assert!(!lookup.is_path("npx"));
        let on_disk = files(&[r"C:\node\npx.cmd"]);
        assert_eq!(
            lookup.find_with(r"C:\node\npx", &on_disk),
            Some(PathBuf::from(r"C:\node\npx.cmd")),
            "a path without its extension still gets PATHEXT"
        );
    }

    #[test]
    fn unix_takes_the_name_as_it_is() {
        let lookup = Lookup {
            dirs: vec!["/usr/local/bin".into(), "/usr/bin".into()],
            ..Lookup::unix(None)
        };
        let on_disk = files(&["/usr/bin/npx", "/usr/bin/npx.cmd"]);
        assert_eq!(
            lookup.find_with("npx", &on_disk),
            Some(PathBuf::from("/usr/bin/npx"))
        );
        assert!(
            !lookup.is_path(r"C:\x"),
            "a backslash is a file name character on unix"
        );
        assert!(lookup.is_path("./server.py"));
        assert_eq!(lookup.find_with("", &on_disk), None);
    }

    #[test]
    fn an_empty_pathext_falls_back_to_the_default() {
        let lookup = Lookup::windows(None, Some(OsStr::new("  ")));
        assert_eq!(lookup.extensions, [".com", ".exe", ".bat", ".cmd"]);
    }

    #[test]
    fn this_platform_finds_a_real_program() {
        let dir = tempfile::tempdir().unwrap();
        let name = if cfg!(windows) { "tool.cmd" } else { "tool" };
        let file = dir.path().join(name);
        std::fs::write(&file, "").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = std::env::join_paths([dir.path()]).unwrap();
        let lookup = Lookup::native(Some(&path), None);
        assert_eq!(lookup.find("tool"), Some(file.clone()));
        if cfg!(windows) {
            assert_eq!(resolve("tool", Some(&path)), file.into_os_string());
        } else {
            assert_eq!(resolve("tool", Some(&path)), OsString::from("tool"));
        }
    }
}
