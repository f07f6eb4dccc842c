//! How the app sets up GTK and WebKit on Linux, for memory: both read their settings from the
//! environment (WebKit's web process inherits the app's), so the app sets a few variables before
//! GTK starts. Each one only when the user has not set it (any value, even empty, wins), and the
//! hub the app starts gets them removed again: they are the window's business, not the hub's or
//! its servers'.
//!
//! - `GDK_GL=disable`: GTK 3 on X11 sets up OpenGL when it opens the display, to choose visuals
//!   for GL, whether or not anything draws with it. That loads the GL driver (with Mesa's
//!   llvmpipe, LLVM: about 50 MB of the tray-only process's memory). The window is a form and
//!   lists, which WebKit draws well without GPU compositing.
//! - `JSC_useJIT=false`: JavaScriptCore runs the page's scripts in its interpreter instead of
//!   compiling them. The page is a small Preact app that renders lists, so the interpreter is
//!   plenty; the JIT's code and compilers cost the window about 15 MB (`scripts/bench --app`).

/// The variables and the values the app gives them.
#[cfg(target_os = "linux")]
const TUNING: &[(&str, &str)] = &[("GDK_GL", "disable"), ("JSC_useJIT", "false")];

/// Set the variables of [`TUNING`] the user has not set; returns the names it set, which a hub
/// the app starts must not inherit.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn tune() -> Vec<&'static str> {
    let mut set = Vec::new();
    for &(name, value) in TUNING {
        if std::env::var_os(name).is_none() {
            // SAFETY: `main` calls this first, before any other thread starts, so nothing reads
            // the environment while it changes.
            unsafe { std::env::set_var(name, value) };
            set.push(name);
        }
    }
    set
}

/// Nothing to set outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn tune() -> Vec<&'static str> {
    Vec::new()
}
