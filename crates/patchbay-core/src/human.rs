//! Errors and spans of time as a person reads them, the same in the CLI, the tray and the
//! window (whose TypeScript twin, `formatSpan`, is tested against the same table,
//! `tests/fixtures/spans.json`).
//!
//! A leaf: it imports nothing of the crate.

/// The causes of `err`, outermost first, `err` itself not included.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(err.source(), |cause| cause.source())
        .map(ToString::to_string)
        .collect()
}

/// An error said with its causes, each once: HTTP clients wrap the useful part ("connection
/// refused", "401 Unauthorized") a few sources deep, and often repeat it in the outer message.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    for cause in causes(err) {
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// A span of `secs` seconds in its two largest units: `12s`, `4m 05s`, `1h 02m`, `2d 03h`.
pub fn span(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_match_the_shared_table() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/spans.json")).unwrap();
        let rows = table["spans"].as_array().unwrap();
        assert!(rows.len() >= 10);
        for row in rows {
            let secs = row[0].as_u64().unwrap();
            assert_eq!(span(secs), row[1].as_str().unwrap(), "{secs} s");
        }
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn a_chain_says_each_cause_once() {
        let err = Layer(
            "request failed: connection refused",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        assert_eq!(causes(&err), ["connection refused", "os error 111"]);
        assert_eq!(
            error_chain(&err),
            "request failed: connection refused: os error 111"
        );
    }
}
