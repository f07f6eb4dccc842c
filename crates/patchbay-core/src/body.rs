//! An HTTP answer's body read within a bound: the one reader for every answer from another
//! machine (an OAuth provider, a remote server, a registry), so that none can make Patchbay
//! hold more than it means to.
//!
//! A leaf: it imports nothing of the crate.

use futures::StreamExt;

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while reading.
    #[error("reading the answer failed: {0}")]
    Read(#[from] reqwest::Error),
    /// The body is larger than the bound.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// The body of `response`, refused past `max` bytes (before reading when its length says so).
pub async fn read(response: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
