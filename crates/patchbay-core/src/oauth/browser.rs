//! Opening the user's browser at an authorization URL: without a shell, and only for `http` and
//! `https` URLs (an authorization server's metadata could name `javascript:` or `file:`, which an
//! opener would hand to some other program).
//!
//! Linux and the BSDs honour `$BROWSER` (a `:`-separated list of commands, each perhaps with a
//! `%s` for the URL, as `xdg-open` and Python's `webbrowser` read it) and fall back to
//! `xdg-open`; macOS uses `open`, Windows the URL protocol handler. Tests put a scripted browser
//! in `$BROWSER`.

use std::time::Duration;

/// How long an opener may take to hand the URL over (they return once the browser has it).
const OPENER_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the browser could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// The URL is not one Patchbay opens.
    #[error("refusing to open `{0}`: only http and https URLs are opened in the browser")]
    Scheme(String),
    /// Every opener failed.
    #[error("could not open a browser: {0}")]
    Failed(String),
}

/// Check that `url` is an absolute `http`/`https` URL.
pub fn check_url(url: &str) -> Result<url::Url, BrowserError> {
    let shown = || url.chars().take(80).collect::<String>();
    let parsed = url::Url::parse(url).map_err(|_| BrowserError::Scheme(shown()))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(parsed),
        _ => Err(BrowserError::Scheme(shown())),
    }
}

/// The commands to try, each as program and arguments, the URL already in place.
fn openers(url: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    if cfg!(all(unix, not(target_os = "macos"))) {
        if let Ok(browser) = std::env::var("BROWSER") {
            for entry in browser.split(':').filter(|e| !e.trim().is_empty()) {
                let mut words: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
                if words.iter().any(|w| w.contains("%s")) {
                    for word in &mut words {
                        *word = word.replace("%s", url);
                    }
                } else {
                    words.push(url.to_owned());
                }
                commands.push(words);
            }
        }
        commands.push(vec!["xdg-open".to_owned(), url.to_owned()]);
    } else if cfg!(target_os = "macos") {
        commands.push(vec!["open".to_owned(), url.to_owned()]);
    } else if cfg!(windows) {
        commands.push(vec![
            "rundll32".to_owned(),
            "url.dll,FileProtocolHandler".to_owned(),
            url.to_owned(),
        ]);
    }
    commands
}

/// Open `url` in the user's browser. Returns once an opener accepted it.
pub async fn open(url: &str) -> Result<(), BrowserError> {
    check_url(url)?;
    let mut failures = Vec::new();
    for command in openers(url) {
        let Some((program, args)) = command.split_first() else {
            continue;
        };
        let mut child = match tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(err) => {
                failures.push(format!("{program}: {err}"));
                continue;
            }
        };
        match tokio::time::timeout(OPENER_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => return Ok(()),
            Ok(Ok(status)) => failures.push(format!("{program} exited with {status}")),
            Ok(Err(err)) => failures.push(format!("{program}: {err}")),
            // Still running: some openers stay in the foreground with the browser.
            Err(_) => return Ok(()),
        }
    }
    Err(BrowserError::Failed(if failures.is_empty() {
        "no opener for this platform".to_owned()
    } else {
        failures.join("; ")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_opened() {
        assert!(check_url("https://as.example.com/authorize?x=1").is_ok());
        assert!(check_url("http://127.0.0.1:8080/authorize").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,hi",
            "ms-settings:",
            "//as.example.com/authorize",
            "",
        ] {
            assert!(
                matches!(check_url(bad), Err(BrowserError::Scheme(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn open_refuses_other_schemes_before_running_anything() {
        let err = open("file:///etc/passwd").await.unwrap_err();
        assert!(err.to_string().contains("only http and https"), "{err}");
    }
}
