//! A `text/event-stream` decoder over raw bytes.
//!
//! Written here rather than taken from `eventsource-stream` because the providers need
//! exact control the crate does not give: bytes buffered across arbitrary chunk
//! boundaries (including inside a UTF-8 sequence), `\r\n` / `\r` / `\n` line ends, a cap
//! on the size of one event, and no reconnection logic. It is small and fully tested.

/// One decoded event: its `event:` name (empty when absent) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the cap without a blank line: the stream is not SSE, or broken.
    #[error("a server-sent event exceeded {0} bytes")]
    EventTooLarge(usize),
}

/// Incremental decoder: feed it byte chunks, collect the complete events.
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// How far `buf` has been scanned for a line end.
    scanned: usize,
    /// A `\r` ended the previous chunk: a `\n` starting the next one belongs to it.
    pending_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    max_event_bytes: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new(64 * 1024 * 1024)
    }
}

impl SseDecoder {
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            scanned: 0,
            pending_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            max_event_bytes,
        }
    }

    /// Decodes what `chunk` completes, pushing finished events to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut chunk = chunk;
        if self.pending_cr {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        self.buf.extend_from_slice(chunk);
        let mut line_start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            match self.buf[i] {
                b'\n' => {
                    self.take_line(line_start, i, out);
                    line_start = i + 1;
                }
                b'\r' => {
                    self.take_line(line_start, i, out);
                    if i + 1 < self.buf.len() {
                        if self.buf[i + 1] == b'\n' {
                            i += 1;
                        }
                    } else {
                        self.pending_cr = true;
                    }
                    line_start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.buf.drain(..line_start);
        self.scanned = self.buf.len();
        if self.buf.len() + self.data.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge(self.max_event_bytes));
        }
        Ok(())
    }

    /// Ends the stream: a last event without its blank line is still delivered, as
    /// browsers do not, but every provider SDK does.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let len = self.buf.len();
            self.take_line(0, len, out);
            self.buf.clear();
            self.scanned = 0;
        }
        self.dispatch(out);
    }

    fn take_line(&mut self, start: usize, end: usize, out: &mut Vec<SseEvent>) {
        if start == end {
            self.dispatch(out);
            return;
        }
        let line = String::from_utf8_lossy(&self.buf[start..end]);
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(pos) => {
                let value = &line[pos + 1..];
                (&line[..pos], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn decode_in_chunks(input: &[u8], sizes: &[usize]) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() {
            let n = sizes[k % sizes.len()].max(1).min(input.len() - pos);
            d.feed(&input[pos..pos + n], &mut out).unwrap();
            pos += n;
            k += 1;
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn line_endings_comments_and_multiline_data() {
        let input = "event: a\r\ndata: one\r\ndata:two\r\n\r\n: comment\n\ndata: x\rdata: y\r\revent: c\ndata: {\"k\" : 1   }\n\n";
        let want = vec![
            SseEvent {
                event: "a".into(),
                data: "one\ntwo".into(),
            },
            SseEvent {
                event: "".into(),
                data: "x\ny".into(),
            },
            SseEvent {
                event: "c".into(),
                data: "{\"k\" : 1   }".into(),
            },
        ];
        for size in 1..input.len() {
            assert_eq!(
                decode_in_chunks(input.as_bytes(), &[size]),
                want,
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn utf8_split_across_chunks_survives() {
        let input = "data: héllo wörld 🎉\n\n".as_bytes();
        for size in 1..6 {
            let events = decode_in_chunks(input, &[size]);
            assert_eq!(events[0].data, "héllo wörld 🎉");
        }
    }

    #[test]
    fn unterminated_last_event_is_delivered_on_finish() {
        assert_eq!(
            decode_in_chunks(b"event: e\ndata: last", &[3]),
            vec![SseEvent {
                event: "e".into(),
                data: "last".into()
            }]
        );
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut d = SseDecoder::new(16);
        let mut out = Vec::new();
        assert_eq!(
            d.feed(b"data: 0123456789012345678901234567890", &mut out),
            Err(SseError::EventTooLarge(16))
        );
    }
}
