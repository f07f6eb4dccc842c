//! The one error the shell's commands return: `{code, message}` for the UI.
//!
//! `code` is what the front end branches on (`hub_unreachable`, `not_found`, `invalid`,
//! `conflict`, `keychain`, `hub`); `message` is the hub's own sentence, said for a person.

use patchbay_core::control::ClientError;
use serde::Serialize;

/// A command's failure as the window receives it.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// What kind of failure, for the UI to branch on.
    pub code: &'static str,
    /// What happened, readable as it is.
    pub message: String,
}

impl AppError {
    /// A failure of the shell itself (autostart, window).
    pub fn shell(err: impl std::fmt::Display) -> Self {
        Self {
            code: "shell",
            message: err.to_string(),
        }
    }
}

impl From<ClientError> for AppError {
    fn from(err: ClientError) -> Self {
        let code = match &err {
            ClientError::Unreachable { .. } | ClientError::Secret(_) => "hub_unreachable",
            ClientError::Api { status: 404, .. } => "not_found",
            ClientError::Api {
                status: 400 | 415 | 422,
                ..
            } => "invalid",
            ClientError::Api { status: 409, .. } => "conflict",
            _ => "hub",
        };
        let message = match &err {
            ClientError::Unreachable { url, .. } => {
                format!("cannot reach Patchbay's hub at {url}; it is being restarted")
            }
            other => other.to_string(),
        };
        Self { code, message }
    }
}

impl From<patchbay_core::bridge::BridgeError> for AppError {
    fn from(err: patchbay_core::bridge::BridgeError) -> Self {
        Self {
            code: "hub_unreachable",
            message: patchbay_core::human::error_chain(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_answers_become_codes_the_ui_branches_on() {
        let api = |status| {
            AppError::from(ClientError::Api {
                status,
                message: "no server named `x`".into(),
            })
        };
        assert_eq!(api(404).code, "not_found");
        assert_eq!(api(422).code, "invalid");
        assert_eq!(api(409).code, "conflict");
        assert_eq!(api(404).message, "no server named `x`");
        let json = serde_json::to_value(api(404)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "not_found", "message": "no server named `x`"})
        );
    }
}
