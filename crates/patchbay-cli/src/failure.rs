//! How a failed command reads: `error:` and the message, each cause on its own
//! `caused by:` line, then a `hint:` when we know the fix. The exit code says what kind.

use std::fmt::Display;

/// Exit codes by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything else.
    General = 1,
    /// The config file is wrong.
    Config = 3,
    /// The thing named does not exist.
    NotFound = 4,
    /// A hub already runs, or another conflict.
    Conflict = 5,
    /// The hub is not running or cannot be reached.
    Hub = 6,
    /// The user declined, or approval was needed and could not be asked.
    Declined = 7,
    /// The OS keychain is unreachable, locked or failed.
    Vault = 8,
}

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    kind: Kind,
    message: String,
    causes: Vec<String>,
    hint: Option<String>,
}

impl Failure {
    /// A failure with a message.
    pub fn new(kind: Kind, message: impl Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
            causes: Vec::new(),
            hint: None,
        }
    }

    /// From an error and its `source()` chain.
    pub fn from_error(kind: Kind, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut failure = Self::new(kind, err);
        failure.causes = patchbay_core::human::causes(err);
        failure
    }

    /// Add the fix.
    pub fn hint(mut self, hint: impl Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.kind as u8
    }

    /// Print to stderr.
    pub fn print(&self) {
        eprintln!("error: {}", self.message);
        for cause in &self.causes {
            eprintln!("  caused by: {cause}");
        }
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Failure::from_error(Kind::General, &err)
    }
}
