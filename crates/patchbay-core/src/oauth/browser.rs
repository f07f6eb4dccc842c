//! Opening the user's browser at an authorization URL: without a shell, and only for `http` and
//! `https` URLs (an authorization server's metadata could name `javascript:` or `file:`, which an
//! opener would hand to some other program).
//!
//! The opener of each OS is data ([`openers`], tested for every OS): Linux and the BSDs honour
//! `$BROWSER` (a `:`-separated list of commands, each perhaps with a `%s` for the URL, as
//! `xdg-open` and Python's `webbrowser` read it) and fall back to `xdg-open`; macOS uses `open`;
//! Windows hands the URL to its protocol handler with `rundll32 url.dll,FileProtocolHandler`,
//! a program started directly, never `cmd /c start` (cmd would read `&`, `|` and `^` in the URL
//! as its own syntax). The URL is always one argument of its own, in the form the `url` crate
//! serializes (spaces and quotes percent-encoded), so no opener can split or reread it. Tests put
//! a scripted browser in `$BROWSER`.

use std::time::Duration;

use crate::platform::Os;

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

/// The commands that open `url` on `os`, to be tried in order, each as program and arguments
/// with the URL in place. `browser` is `$BROWSER`, read on Linux and the BSDs only.
pub fn openers(os: Os, url: &url::Url, browser: Option<&str>) -> Vec<Vec<String>> {
    let url = url.as_str();
    let mut commands = Vec::new();
    match os {
        Os::Linux => {
            for entry in browser
                .unwrap_or_default()
                .split(':')
                .filter(|e| !e.trim().is_empty())
            {
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
            commands.push(vec!["xdg-open".to_owned(), url.to_owned()]);
        }
        Os::MacOs => commands.push(vec!["open".to_owned(), url.to_owned()]),
        Os::Windows => commands.push(vec![
            "rundll32".to_owned(),
            "url.dll,FileProtocolHandler".to_owned(),
            url.to_owned(),
        ]),
    }
    commands
}

/// Open `url` in the user's browser. Returns once an opener accepted it.
pub async fn open(url: &str) -> Result<(), BrowserError> {
    let url = check_url(url)?;
    let browser = std::env::var("BROWSER").ok();
    let mut failures = Vec::new();
    for command in openers(Os::current(), &url, browser.as_deref()) {
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

    fn commands(os: Os, url: &str, browser: Option<&str>) -> Vec<Vec<String>> {
        openers(os, &check_url(url).unwrap(), browser)
    }

    #[test]
    fn each_os_has_its_opener() {
        let url = "https://as.example.com/authorize?x=1";
        let shown = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            commands(Os::MacOs, url, Some("firefox")),
            [shown(&["open", url])],
            "macOS: `open`, whatever $BROWSER says"
        );
        assert_eq!(
            commands(Os::Windows, url, Some("firefox")),
            [shown(&["rundll32", "url.dll,FileProtocolHandler", url])],
            "Windows: the protocol handler, started without cmd"
        );
        assert_eq!(commands(Os::Linux, url, None), [shown(&["xdg-open", url])]);
        assert_eq!(
            commands(
                Os::Linux,
                url,
                Some("firefox --new-tab %s::/opt/chromium/chrome")
            ),
            [
                shown(&["firefox", "--new-tab", url]),
                shown(&["/opt/chromium/chrome", url]),
                shown(&["xdg-open", url]),
            ],
            "Linux: each $BROWSER entry in order, then xdg-open"
        );
    }

    #[test]
    fn the_url_is_one_argument_and_no_opener_is_a_shell() {
        let hostile = "https://as.example.com/authorize?a=1&b=x y\"&c=`id`|calc^&d=$(id)";
        for os in [Os::Linux, Os::MacOs, Os::Windows] {
            for command in commands(os, hostile, Some("browser %s")) {
                let program = std::path::Path::new(&command[0])
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap()
                    .to_ascii_lowercase();
                assert!(
                    !["sh", "bash", "cmd", "powershell", "pwsh", "start"]
                        .contains(&program.as_str()),
                    "{os:?}: {command:?}"
                );
                let url = command.last().unwrap();
                assert!(
                    url.starts_with("https://as.example.com/authorize?")
                        && !url.contains([' ', '"']),
                    "{os:?}: the URL is one argument, spaces and quotes encoded: {url}"
                );
            }
        }
    }

    #[tokio::test]
    async fn open_refuses_other_schemes_before_running_anything() {
        let err = open("file:///etc/passwd").await.unwrap_err();
        assert!(err.to_string().contains("only http and https"), "{err}");
    }
}
