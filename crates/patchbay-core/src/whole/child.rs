//! A stdio server's answers, kept whole (and its tools' definitions).
//!
//! rmcp reads what a child writes into its typed model of the protocol, and a field the model
//! does not know (a server's own member in a tool result, a text content's extra field) is gone
//! by the time the hub sees the result. The hub can already pass on an answer rmcp could not
//! read at all (`ServerResult::CustomResult`, see [`crate::whole`]); this module makes the same
//! happen to an answer rmcp read only in part.
//!
//! The child is still spawned, and shut down, by rmcp's child-process transport (in a process
//! tree of its own, see `own_process_tree`; close, wait, SIGTERM on unix, kill). [`TakeStdio`]
//! takes the child's real stdin and stdout when it is spawned and gives that transport the two
//! ends of one unused pipe instead; the real ones are
//! spoken over by rmcp's own line transport (`AsyncRwTransport`, the one the child-process
//! transport wraps), reading through [`CopyingReader`], which keeps a copy of each answer to a
//! `tools/call`, `prompts/get`, `resources/read` or other method rmcp does not model the hub
//! sent; when rmcp's reading of that answer, written out again, is not equal to the copy, the
//! answer is handed on as the copy. A `tools/list` answer stays rmcp's reading, each tool with
//! the members it lost kept in its `_meta` ([`crate::whole::stash_members`]).
//! Nothing else changes: every other message is rmcp's reading, and a line costs one copy and,
//! while such a call is in flight, one parse.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use process_wrap::tokio::{CommandWrap, CommandWrapper};
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::{TokioChildProcess, Transport};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{ChildStdin, ChildStdout};

use super::watch::{Kept, Watch};

/// An owned pipe end as the platform names it: what `std::process`'s child stdio is made from.
#[cfg(unix)]
type OwnedPipe = std::os::fd::OwnedFd;
#[cfg(windows)]
type OwnedPipe = std::os::windows::io::OwnedHandle;

/// The longest line the tap copies; longer ones are left to rmcp's reading (which caps lines at
/// 16 MiB itself).
const MAX_COPY: usize = 16 * 1024 * 1024;

/// A process-wrap wrapper that takes the child's stdin and stdout for [`WholeChild`] and leaves
/// unused pipe ends in their place, so rmcp's child-process transport can still be built.
#[derive(Debug, Default, Clone)]
pub struct TakeStdio {
    taken: Arc<Mutex<Option<(ChildStdin, ChildStdout)>>>,
}

impl CommandWrapper for TakeStdio {
    fn post_spawn(
        &mut self,
        _command: &mut tokio::process::Command,
        child: &mut tokio::process::Child,
        _core: &CommandWrap,
    ) -> std::io::Result<()> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other(
                "the child's stdin and stdout must be piped",
            ));
        };
        // One unused pipe serves as both: rmcp's transport never writes to it (it is only
        // closed at shutdown) and never reads from it.
        let (unused_read, unused_write) = std::io::pipe()?;
        child.stdout = Some(ChildStdout::from_std(std::process::ChildStdout::from(
            OwnedPipe::from(unused_read),
        ))?);
        child.stdin = Some(ChildStdin::from_std(std::process::ChildStdin::from(
            OwnedPipe::from(unused_write),
        ))?);
        *self.taken.lock().expect("stdio lock") = Some((stdin, stdout));
        Ok(())
    }
}

/// A child spawned by rmcp's child-process transport, spoken to over its real stdio with
/// answers kept whole.
pub struct WholeChild {
    /// Owns the process: its id, its graceful shutdown, and the kill when dropped.
    child: TokioChildProcess,
    io: Kept<AsyncRwTransport<RoleClient, CopyingReader<ChildStdout>, ChildStdin>>,
}

impl WholeChild {
    /// Wraps a child spawned with `stdio` among its command's wrappers.
    pub fn new(child: TokioChildProcess, stdio: &TakeStdio) -> std::io::Result<Self> {
        let (stdin, stdout) = stdio
            .taken
            .lock()
            .expect("stdio lock")
            .take()
            .ok_or_else(|| std::io::Error::other("the child's stdio was not taken"))?;
        let watch = Arc::new(Watch::default());
        let tap = CopyingReader {
            inner: stdout,
            line: Vec::new(),
            copying: None,
            watch: watch.clone(),
        };
        Ok(Self {
            child,
            io: Kept::new(AsyncRwTransport::new_client(tap, stdin), watch),
        })
    }

    /// The child's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Transport<RoleClient> for WholeChild {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.io.send(item)
    }

    fn receive(
        &mut self,
    ) -> impl std::future::Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.io.receive()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Closing the real stdin is what tells the server to exit; then rmcp's shutdown waits,
        // sends SIGTERM, waits, and kills.
        let _ = self.io.close().await;
        self.child.graceful_shutdown().await
    }
}
/// The child's stdout, as rmcp reads it, with a copy of each line kept for [`Watch::offer`]
/// while an answer is expected.
pub struct CopyingReader<R> {
    inner: R,
    line: Vec<u8>,
    /// For the line under way: whether it is being copied (decided at its first byte, since an
    /// answer cannot begin before its request was sent), `None` between lines.
    copying: Option<bool>,
    watch: Arc<Watch>,
}

impl<R> CopyingReader<R> {
    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let copying = *self.copying.get_or_insert_with(|| !self.watch.is_empty());
            let end = bytes.iter().position(|b| *b == b'\n');
            let part = &bytes[..end.unwrap_or(bytes.len())];
            if copying {
                if self.line.len() + part.len() <= MAX_COPY {
                    self.line.extend_from_slice(part);
                } else {
                    self.line = Vec::new();
                    self.copying = Some(false);
                }
            }
            match end {
                Some(end) => {
                    if self.copying == Some(true) {
                        self.watch.offer(&self.line);
                    }
                    self.line.clear();
                    self.copying = None;
                    bytes = &bytes[end + 1..];
                }
                None => break,
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CopyingReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.scan(&buf.filled()[before..]);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{NumberOrString, RequestId};

    fn tap(watch: &Arc<Watch>) -> CopyingReader<tokio::io::Empty> {
        CopyingReader {
            inner: tokio::io::empty(),
            line: Vec::new(),
            copying: None,
            watch: watch.clone(),
        }
    }

    #[test]
    fn the_tap_keeps_the_answer_to_an_expected_request_across_reads() {
        let watch = Arc::new(Watch::default());
        let id = RequestId::Number(7);
        watch.expect(&id);
        let mut tap = tap(&watch);
        let line = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"mine":1}}"#;
        tap.scan(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n");
        tap.scan(&line[..20]);
        tap.scan(&line[20..]);
        tap.scan(b"\n");
        assert_eq!(
            watch.take(&id),
            Some(serde_json::json!({"content": [], "mine": 1}))
        );
        assert!(watch.is_empty(), "taking the answer forgets the request");
    }

    #[test]
    fn the_tap_copies_nothing_while_no_answer_is_expected() {
        let watch = Arc::new(Watch::default());
        let mut tap = tap(&watch);
        tap.scan(br#"{"jsonrpc":"2.0","id":"a","#);
        // The request is sent while that line is under way: it cannot be its answer.
        watch.expect(&RequestId::String("a".into()));
        tap.scan(b"\"result\":{}}\n");
        assert!(tap.line.is_empty());
        assert_eq!(watch.take(&NumberOrString::String("a".into())), None);
    }
}
