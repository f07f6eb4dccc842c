//! The one reader of `text/event-stream` (Server-Sent Events) in Patchbay.
//!
//! Every event stream the crate reads goes through [`Reader`]: the bridge reading the hub's
//! answers, the endpoint deciding whether an answer can go out as plain JSON, the control
//! client reading `/api/v1/events`, and the remote probe reading a server's first answer. The
//! passthrough that restores answers in a stream the hub writes finds whole events with
//! [`whole_len`] and rewrites `data:` lines with [`map_data`], so it never parses an event a
//! second way.
//!
//! A leaf: it imports nothing of the crate.

use futures::{Stream, StreamExt};

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, when the event names its type.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// An incremental parser. Feed it bytes however they were cut; each byte is searched once.
///
/// Events whose data is empty (resumption primers, keep-alives, comments) are not dispatched;
/// `id:` and `retry:` are read past: none of Patchbay's readers resumes a stream.
#[derive(Debug, Default)]
pub struct Reader {
    buffer: Vec<u8>,
    /// How far `buffer` has been searched for a line break.
    scanned: usize,
    pending: Pending,
}

/// The fields of the event being read.
#[derive(Debug, Default)]
struct Pending {
    event: Option<String>,
    data: Vec<String>,
}

impl Reader {
    /// Feed bytes; returns every event they complete.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut done = Vec::new();
        let mut start = 0;
        while let Some(offset) = memchr::memchr(b'\n', &self.buffer[self.scanned..]) {
            let end = self.scanned + offset;
            self.scanned = end + 1;
            let line = String::from_utf8_lossy(&self.buffer[start..end]);
            start = end + 1;
            self.pending.line(line.trim_end_matches('\r'), &mut done);
        }
        self.buffer.drain(..start);
        self.scanned -= start;
        done
    }

    /// Feed the last bytes of a body that has ended: an event the body did not close with a
    /// blank line is dispatched too (a lenient reading, for one-shot bodies).
    pub fn finish(mut self, chunk: &[u8]) -> Vec<Event> {
        let mut done = self.feed(chunk);
        done.extend(self.feed(b"\n\n"));
        done
    }
}

impl Pending {
    fn line(&mut self, line: &str, done: &mut Vec<Event>) {
        if line.is_empty() {
            let event = self.event.take();
            if !self.data.is_empty() {
                let data = self.data.join("\n");
                self.data.clear();
                if !data.is_empty() {
                    done.push(Event { event, data });
                }
            }
        } else if let Some(value) = field(line, "data") {
            self.data.push(value.to_owned());
        } else if let Some(value) = field(line, "event") {
            self.event = Some(value.to_owned());
        }
    }
}

/// The value of `line` when it is the field `name` (one optional space after the colon).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let value = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

/// The events of a whole body.
pub fn parse(body: &[u8]) -> Vec<Event> {
    Reader::default().finish(body)
}

/// The events of a byte stream, each as it completes; an error of the stream is passed on.
pub fn events<S, B, E>(stream: S) -> impl Stream<Item = Result<Event, E>> + Send
where
    S: Stream<Item = Result<B, E>> + Send + Unpin,
    B: AsRef<[u8]> + Send,
    E: Send,
{
    futures::stream::unfold(
        (stream, Reader::default(), std::collections::VecDeque::new()),
        |(mut stream, mut reader, mut ready)| async move {
            loop {
                if let Some(event) = ready.pop_front() {
                    return Some((Ok(event), (stream, reader, ready)));
                }
                match stream.next().await? {
                    Ok(chunk) => ready.extend(reader.feed(chunk.as_ref())),
                    Err(err) => return Some((Err(err), (stream, reader, ready))),
                }
            }
        },
    )
}

/// How many leading bytes of `bytes` are whole events (each ended by a blank line), so a
/// writer can pass them on together; `None` while no event is whole.
pub fn whole_len(bytes: &[u8]) -> Option<usize> {
    let lf = memchr::memmem::rfind(bytes, b"\n\n").map(|at| at + 2);
    let crlf = memchr::memmem::rfind(bytes, b"\n\r\n").map(|at| at + 3);
    lf.max(crlf)
}

/// `events` (whole events, see [`whole_len`]) with each `data:` line's value replaced by what
/// `map` makes of it; `None` keeps the line as it was, byte for byte.
pub fn map_data(events: &[u8], map: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len());
    for line in events.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let mapped = body
            .strip_prefix(b"data:")
            .map(|data| data.strip_prefix(b" ").unwrap_or(data))
            .and_then(&map);
        match mapped {
            Some(value) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&value);
                out.extend_from_slice(&line[body.len()..]);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: Vec<Event>) -> Vec<String> {
        events.into_iter().map(|e| e.data).collect()
    }

    #[test]
    fn split_chunks_primers_and_multiline_data() {
        let mut r = Reader::default();
        let mut out = r.feed(b"id: 1\ndata:\n\nevent: message\ndata: {\"a\":");
        out.extend(r.feed(b"1}\n\n: comment\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\n"));
        assert_eq!(data(out.clone()), ["{\"a\":1}", "{\"b\":\n2}"]);
        assert_eq!(out[0].event.as_deref(), Some("message"));
        assert_eq!(out[1].event, None, "an event's type does not carry over");
    }

    #[test]
    fn the_same_events_however_the_stream_is_cut() {
        let whole: &[u8] = b"data: \r\nid: 0\r\nretry: 3000\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n";
        let want = [r#"{"jsonrpc":"2.0","id":1,"result":{}}"#];
        for cut in 0..whole.len() {
            let mut r = Reader::default();
            let mut out = r.feed(&whole[..cut]);
            out.extend(r.feed(&whole[cut..]));
            assert_eq!(data(out), want, "cut at {cut}");
        }
        let mut r = Reader::default();
        let out: Vec<Event> = whole.chunks(1).flat_map(|b| r.feed(b)).collect();
        assert_eq!(data(out), want);
    }

    #[test]
    fn a_field_name_must_be_whole() {
        let out = parse(b"database: x\ndata:y\neventful: z\n\n");
        assert_eq!(
            out,
            [Event {
                event: None,
                data: "y".into()
            }]
        );
    }

    #[test]
    fn a_body_without_its_last_blank_line_still_gives_its_event() {
        assert_eq!(data(parse(b"event: message\ndata: {}\n")), ["{}"]);
        assert_eq!(data(parse(b"data: a\n\ndata: b\n\n")), ["a", "b"]);
    }

    #[test]
    fn a_stream_of_chunks_gives_each_event_once() {
        let chunks: Vec<Result<&[u8], ()>> = vec![
            Ok(b"event: server_state\ndata: {\"a\"".as_slice()),
            Ok(b":1}\n\n: keep-alive\n\nevent: x\ndata: 2\n\n".as_slice()),
            Err(()),
        ];
        let got: Vec<_> =
            futures::executor::block_on(events(futures::stream::iter(chunks)).collect::<Vec<_>>());
        assert_eq!(
            got,
            [
                Ok(Event {
                    event: Some("server_state".into()),
                    data: "{\"a\":1}".into()
                }),
                Ok(Event {
                    event: Some("x".into()),
                    data: "2".into()
                }),
                Err(()),
            ]
        );
    }

    #[test]
    fn whole_len_finds_the_end_of_the_last_whole_event() {
        assert_eq!(whole_len(b"data: a\n"), None);
        assert_eq!(whole_len(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(whole_len(b"data: a\r\n\r\ndata: b\n\n"), Some(20));
        assert_eq!(whole_len(b"data: a\r\n\r\n"), Some(11));
    }

    #[test]
    fn map_data_rewrites_data_lines_only_and_keeps_line_ends() {
        let events = b"id: 1\r\ndata: old\r\n\r\ndata: keep\n\n";
        let out = map_data(events, |d| (d == b"old").then(|| b"new".to_vec()));
        assert_eq!(out, b"id: 1\r\ndata: new\r\n\r\ndata: keep\n\n");
    }
}
