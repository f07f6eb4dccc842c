//! A writer killed with SIGKILL at a random moment, again and again, leaves the client's file
//! either as it was before an edit or as it is after, never torn, empty or unparseable.
//!
//! The writer is this test binary itself, re-run with `PATCHBAY_TEST_CRASH_WRITER` set: then
//! `crash_writer` installs and uninstalls in a loop until it is killed.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use patchbay_core::clients::{self, InstallOptions, Session};

const WRITER_ENV: &str = "PATCHBAY_TEST_CRASH_WRITER";
const KILLS: usize = 40;
const MAX_WRITES: usize = 100_000;

#[test]
fn crash_writer() {
    let Some(root) = std::env::var_os(WRITER_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    let spec = clients::find("claude-desktop").unwrap();
    let mut session = Session::new(common::context_at(Path::new(&root)));
    for _ in 0..MAX_WRITES {
        session.install(spec, &InstallOptions::default()).unwrap();
        session.uninstall(spec).unwrap();
    }
}

/// A small xorshift generator seeded from the clock: a different kill schedule every run.
fn delays() -> impl Iterator<Item = Duration> {
    let mut state = Instant::now().elapsed().as_nanos() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
        | 1;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Duration::from_micros(2_000 + state % 60_000)
    })
}

#[test]
fn killed_writer_leaves_the_old_or_the_new_file() {
    let sandbox = common::Sandbox::new();
    let spec = clients::find("claude-desktop").unwrap();
    let path = sandbox.write_client_file(spec, &common::input(spec, "others"));
    // The versions a writer may leave: the original, with our entry, and after uninstall.
    let original = std::fs::read(&path).unwrap();
    let mut session = sandbox.session();
    session.install(spec, &InstallOptions::default()).unwrap();
    let installed = std::fs::read(&path).unwrap();
    session.uninstall(spec).unwrap();
    let uninstalled = std::fs::read(&path).unwrap();
    let valid = [&original, &installed, &uninstalled];

    let exe = std::env::current_exe().unwrap();
    let mut seen_installed = 0;
    for (round, delay) in delays().take(KILLS).enumerate() {
        let mut child = Command::new(&exe)
            .args(["crash_writer", "--exact", "--test-threads=1", "--quiet"])
            .env(WRITER_ENV, sandbox.root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: the writer must still be writing when it is killed"
        );
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let now = std::fs::read(&path).unwrap_or_default();
        assert!(
            valid.contains(&&now),
            "round {round} (killed after {delay:?}): the file is torn:\n{}",
            String::from_utf8_lossy(&now)
        );
        common::parsed(spec, std::str::from_utf8(&now).unwrap());
        seen_installed += usize::from(now == installed);
    }
    // Not asserted (timing), but told: how often the kill landed between install and uninstall.
    eprintln!("{seen_installed} of {KILLS} kills left the installed version");

    // A kill between temp file and rename leaves the temp file; the next edit sweeps it.
    let temps = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(patchbay_core::files::TEMP_PREFIX)
            })
            .count()
    };
    let dir = path.parent().unwrap();
    eprintln!("{} temp files left by the kills", temps(dir));
    sandbox
        .session()
        .install(spec, &InstallOptions::default())
        .unwrap();
    assert_eq!(temps(dir), 0, "the next edit removes leftover temp files");
    assert_eq!(std::fs::read(&path).unwrap(), installed);
}
