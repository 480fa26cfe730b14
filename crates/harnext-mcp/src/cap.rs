//! A byte cap on what a server sends, applied while it is read: a message longer
//! than the cap has its long strings cut (with a note in the first one cut), so a
//! 16 MB tool result becomes a short, still valid answer instead of a message the
//! transport drops (and a call that never ends).
//!
//! [`JsonCutter`] rewrites one JSON text in a single pass, holding at most about
//! twice the cap: it copies the structure, keys and short strings, and once the
//! output has reached the cap it keeps only the first [`KEEP`] bytes of each longer
//! string. A message whose structure alone is too large (a million small numbers)
//! becomes a JSON-RPC error answering the same request id. [`LineCap`] applies it to
//! the oversized lines of a newline-delimited stream: stdio's messages, or the
//! `data:` lines of an SSE stream.
//!
//! Written here because no JSON crate rewrites a document in a bounded, streaming
//! way; serde_json needs the whole text first.

/// Bytes every string keeps, even once the output has reached the cap (keys, `"2.0"`,
/// `"text"`, short values).
const KEEP: usize = 256;

/// What the note says, in the first string that was cut.
fn note(cap: usize) -> String {
    format!(
        " … [cut: the MCP server sent more than {cap} bytes (max_result_bytes); the rest was left out]"
    )
}

/// Rewrites one JSON text (see the module docs). Feed it bytes, then
/// [`JsonCutter::finish`].
pub(crate) struct JsonCutter {
    cap: usize,
    /// Beyond this the structure itself is too large: the output is dropped.
    hard_limit: usize,
    out: Vec<u8>,
    overflow: bool,
    /// Whether any string was cut.
    cut_any: bool,
    /// Nesting: true for an object.
    stack: Vec<bool>,
    /// In an object, the next string is a key.
    expect_key: bool,
    string: Option<StringState>,
    /// The top-level `"id"` value, raw, once seen.
    id: Option<Vec<u8>>,
    /// Collecting the raw top-level `"id"` value.
    id_capture: Option<Vec<u8>>,
    /// The last top-level key was `"id"` (its value follows the `:`).
    id_key: bool,
}

struct StringState {
    is_key: bool,
    /// Content bytes seen (copied or not).
    len: usize,
    /// Copying stopped; content bytes are skipped until the closing quote.
    cutting: bool,
    /// Bytes still to come in the current unit (a UTF-8 character's continuation
    /// bytes, or a `\u` escape's hex digits).
    pending: usize,
    /// The current unit is an escape (its pending bytes are hex digits).
    hex: bool,
    /// The current unit is being skipped.
    skip_unit: bool,
    /// Just after a backslash.
    escape: bool,
    /// Where the last copied unit began in `out`, and whether it was a `\u` escape
    /// of a high surrogate (which must not be left without its low half).
    last_unit: Option<(usize, bool)>,
    /// Collects a top-level key (to spot `"id"`).
    key: Option<Vec<u8>>,
}

impl JsonCutter {
    pub(crate) fn new(cap: usize) -> JsonCutter {
        JsonCutter {
            cap,
            hard_limit: cap.saturating_mul(2).saturating_add(64 * 1024),
            out: Vec::new(),
            overflow: false,
            cut_any: false,
            stack: Vec::new(),
            expect_key: false,
            string: None,
            id: None,
            id_capture: None,
            id_key: false,
        }
    }

    fn emit(&mut self, b: u8) {
        if self.overflow {
            return;
        }
        self.out.push(b);
        if self.out.len() > self.hard_limit {
            self.overflow = true;
            self.out = Vec::new();
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.string.is_some() {
                self.string_byte(b);
            } else {
                self.structure_byte(b);
            }
        }
    }

    fn structure_byte(&mut self, b: u8) {
        let top_level = self.stack.len() == 1 && self.stack[0];
        // The raw top-level id value ends at `,` or `}` of the top object.
        if let Some(capture) = &mut self.id_capture {
            if top_level && matches!(b, b',' | b'}') {
                self.id = self.id_capture.take();
            } else if capture.len() < 128 {
                capture.push(b);
            }
        }
        match b {
            b'{' => {
                self.stack.push(true);
                self.expect_key = true;
            }
            b'[' => {
                self.stack.push(false);
                self.expect_key = false;
            }
            b'}' | b']' => {
                self.stack.pop();
                self.expect_key = false;
            }
            b',' => self.expect_key = self.stack.last() == Some(&true),
            b':' => {
                self.expect_key = false;
                if top_level && self.id_key {
                    self.id_key = false;
                    self.id_capture = Some(Vec::new());
                }
            }
            b'"' => {
                let is_key = self.expect_key && self.stack.last() == Some(&true);
                self.string = Some(StringState {
                    is_key,
                    len: 0,
                    cutting: false,
                    pending: 0,
                    hex: false,
                    skip_unit: false,
                    escape: false,
                    last_unit: None,
                    key: (is_key && top_level).then(Vec::new),
                });
            }
            _ => {}
        }
        self.emit(b);
    }

    fn string_byte(&mut self, b: u8) {
        let cap = self.cap;
        if let Some(capture) = &mut self.id_capture {
            if capture.len() < 128 {
                capture.push(b);
            }
        }
        let Some(s) = self.string.as_mut() else {
            return;
        };
        // The rest of a unit: an escape's character (and a `\u` escape's four hex
        // digits), or a UTF-8 character's continuation bytes.
        let continues = if s.escape {
            s.escape = false;
            s.pending = if b == b'u' { 4 } else { 0 };
            true
        } else if s.pending > 0 {
            let fits = if s.hex {
                b.is_ascii_hexdigit()
            } else {
                (0x80..=0xbf).contains(&b)
            };
            if fits {
                s.pending -= 1;
            } else {
                // A broken unit ends here; this byte starts the next one.
                s.pending = 0;
            }
            fits
        } else {
            false
        };
        if continues || b != b'"' {
            if let Some(key) = &mut s.key {
                if key.len() < 8 {
                    key.push(b);
                }
            }
        }
        if continues {
            if !s.skip_unit {
                self.emit(b);
            }
            self.unit_done();
            return;
        }
        if b == b'"' {
            // The end of the string.
            if let Some(s) = self.string.take() {
                if s.cutting && !self.cut_any {
                    self.cut_any = true;
                    for c in note(cap).bytes() {
                        self.emit(c);
                    }
                }
                if s.is_key {
                    self.id_key = s.key.as_deref() == Some(b"id".as_slice());
                }
            }
            self.emit(b);
            return;
        }
        // A new unit: an escape or a character.
        s.len += 1;
        if !s.cutting && !s.is_key && self.out.len() >= cap && s.len > KEEP {
            s.cutting = true;
            // A high surrogate escape must not stay without its low half.
            if let Some((start, true)) = s.last_unit {
                self.out.truncate(start);
            }
        }
        s.skip_unit = s.cutting;
        s.hex = b == b'\\';
        if b == b'\\' {
            s.escape = true;
        } else {
            s.pending = match b {
                0xc0..=0xdf => 1,
                0xe0..=0xef => 2,
                0xf0..=0xf7 => 3,
                _ => 0,
            };
        }
        if !s.cutting {
            s.last_unit = Some((self.out.len(), false));
            self.emit(b);
        }
        self.unit_done();
    }

    /// At the end of a copied unit, notes whether it was a `\uD800`–`\uDBFF`
    /// escape (a high surrogate).
    fn unit_done(&mut self) {
        let Some(s) = self.string.as_mut() else {
            return;
        };
        if s.pending != 0 || s.escape || s.skip_unit {
            return;
        }
        if let Some((start, _)) = s.last_unit {
            let unit = &self.out[start.min(self.out.len())..];
            let high = unit.len() == 6
                && unit.starts_with(b"\\u")
                && matches!(unit[2], b'd' | b'D')
                && matches!(unit[3], b'8' | b'9' | b'a' | b'b' | b'A' | b'B');
            s.last_unit = Some((start, high));
        }
    }

    /// The rewritten text; or, when even its structure was too large, a JSON-RPC
    /// error for the same request id (`None` when it had no id: nothing to answer).
    pub(crate) fn finish(self) -> Option<Vec<u8>> {
        if !self.overflow {
            return Some(self.out);
        }
        let id = self.id.or(self.id_capture)?;
        let id = String::from_utf8_lossy(&id).trim().to_owned();
        if id.is_empty() {
            return None;
        }
        Some(
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32603,"message":"the MCP server's answer was larger than {} bytes (max_result_bytes) and could not be shortened"}}}}"#,
                self.cap
            )
            .into_bytes(),
        )
    }
}

/// Caps the lines of a newline-delimited stream at `cap` bytes: shorter lines pass
/// unchanged, longer ones go through a [`JsonCutter`] (after their `data:` field
/// name, for SSE). A line that cannot be shortened and answers nothing is dropped.
pub(crate) struct LineCap {
    cap: usize,
    sse: bool,
    /// The current line, while it is within the cap.
    line: Vec<u8>,
    /// The current line, once it went over: its field prefix and the cutter.
    cutter: Option<(Vec<u8>, JsonCutter)>,
}

impl LineCap {
    /// `sse`: lines are SSE fields (`data: {…}`), else whole JSON messages (stdio).
    pub(crate) fn new(cap: usize, sse: bool) -> LineCap {
        LineCap {
            cap,
            sse,
            line: Vec::new(),
            cutter: None,
        }
    }

    /// Takes `chunk`, appends what is complete to `out`.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let end = rest.iter().position(|b| *b == b'\n');
            let (part, newline) = match end {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = match end {
                Some(i) => &rest[i + 1..],
                None => &[],
            };
            match &mut self.cutter {
                Some((_, cutter)) => cutter.feed(part),
                None => {
                    self.line.extend_from_slice(part);
                    if self.line.len() > self.cap {
                        self.start_cutting();
                    }
                }
            }
            if newline {
                self.end_line(out);
            }
        }
    }

    fn start_cutting(&mut self) {
        let line = std::mem::take(&mut self.line);
        let (prefix, json) = if self.sse {
            match line.strip_prefix(b"data:") {
                Some(rest) => {
                    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                    (b"data: ".to_vec(), rest.to_vec())
                }
                // Another field this long is no message: it is dropped.
                None => (Vec::new(), Vec::new()),
            }
        } else {
            (Vec::new(), line)
        };
        let mut cutter = JsonCutter::new(self.cap);
        cutter.feed(&json);
        self.cutter = Some((prefix, cutter));
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        match self.cutter.take() {
            None => out.extend_from_slice(&self.line),
            Some((prefix, cutter)) => {
                if self.sse && prefix.is_empty() {
                    // A long non-data field: dropped, line end kept.
                } else if let Some(text) = cutter.finish() {
                    out.extend_from_slice(&prefix);
                    out.extend_from_slice(&text);
                }
            }
        }
        self.line.clear();
        out.push(b'\n');
    }

    /// The end of the stream: a last line without its line end is passed on.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.line.is_empty() || self.cutter.is_some() {
            self.end_line(out);
            // `end_line` added a line end the stream did not have.
            out.pop();
        }
    }
}

#[cfg(test)]
/// Caps a whole JSON body (not line-delimited) at `cap` bytes as [`JsonCutter`] does.
pub(crate) fn cap_json(body: &[u8], cap: usize) -> Option<Vec<u8>> {
    if body.len() <= cap {
        return Some(body.to_vec());
    }
    let mut cutter = JsonCutter::new(cap);
    cutter.feed(body);
    cutter.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use serde_json::Value;

    fn cut(text: &str, cap: usize) -> Value {
        let out = cap_json(text.as_bytes(), cap).unwrap();
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn a_huge_text_result_is_cut_with_a_note_and_keeps_its_id_wherever_it_is() {
        let big = "x".repeat(5_000_000);
        for message in [
            // The TypeScript SDK puts the id last.
            json!({"result": {"content": [{"type": "text", "text": big}]}, "jsonrpc": "2.0", "id": 7}),
            json!({"jsonrpc": "2.0", "id": "req-7", "result": {"content": [{"type": "text", "text": big}], "isError": false}}),
        ] {
            let text = message.to_string();
            let v = cut(&text, 4096);
            assert_eq!(v["jsonrpc"], "2.0");
            assert_eq!(v["id"], message["id"]);
            assert_eq!(v["result"]["content"][0]["type"], "text");
            let t = v["result"]["content"][0]["text"].as_str().unwrap();
            assert!(t.len() < 4096 + 200, "{}", t.len());
            assert!(t.starts_with("xxxx"));
            assert!(t.ends_with("the rest was left out]"), "{t}");
            assert!(t.contains("max_result_bytes"));
        }
    }

    #[test]
    fn escapes_multibyte_characters_and_surrogate_pairs_are_never_split() {
        for unit in [
            "é",
            "日本",
            "🎉",
            "\\n",
            "\\u00e9",
            "\\ud83c\\udf89",
            "\\\"",
        ] {
            let body = unit.repeat(3000);
            for cap in 1000..1012 {
                let text = format!(
                    r#"{{"id":1,"result":{{"content":[{{"type":"text","text":"{body}"}}]}}}}"#
                );
                let v = cut(&text, cap);
                assert!(v["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("[cut:"));
            }
        }
    }

    #[test]
    fn a_message_whose_structure_is_too_large_becomes_an_error_for_its_request() {
        let numbers: Vec<u32> = (0..200_000).collect();
        let text = json!({"result": {"content": [], "structuredContent": {"n": numbers}}, "jsonrpc": "2.0", "id": 42})
            .to_string();
        let v = cut(&text, 4096);
        assert_eq!(v["id"], 42);
        assert_eq!(v["error"]["code"], -32603);
        assert!(v["error"]["message"].as_str().unwrap().contains("4096"));
        // Without an id there is nothing to answer.
        let text = json!({"method": "notifications/message", "params": {"n": numbers}}).to_string();
        assert_eq!(cap_json(text.as_bytes(), 4096), None);
    }

    #[test]
    fn lines_within_the_cap_pass_unchanged_in_any_chunking_and_long_ones_are_cut() {
        let small = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}).to_string();
        let big = json!({"jsonrpc": "2.0", "id": 2, "result": {"content": [{"type": "text", "text": "y".repeat(100_000)}]}})
            .to_string();
        let input = format!("{small}\n{big}\n{small}\r\n");
        for size in [1, 7, 4096, input.len()] {
            let mut cap = LineCap::new(2048, false);
            let mut out = Vec::new();
            for chunk in input.as_bytes().chunks(size) {
                cap.feed(chunk, &mut out);
            }
            cap.finish(&mut out);
            let text = String::from_utf8(out).unwrap();
            let lines: Vec<&str> = text.split('\n').collect();
            assert_eq!(lines[0], small);
            assert_eq!(lines[2], format!("{small}\r"));
            let v: Value = serde_json::from_str(lines[1]).unwrap();
            assert_eq!(v["id"], 2);
            assert!(lines[1].len() < 2048 + 300, "{}", lines[1].len());
        }
        // SSE: the data field is cut, its name kept.
        let mut cap = LineCap::new(2048, true);
        let mut out = Vec::new();
        cap.feed(
            format!("event: message\ndata: {big}\n\n").as_bytes(),
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let data = text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(serde_json::from_str::<Value>(data).unwrap()["id"], 2);
        assert!(text.starts_with("event: message\n") && text.ends_with("\n\n"));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "(?s).{0,300}".prop_map(Value::String),
            "[a-z\\\\\"é🎉\u{1}]{0,2000}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_message_stays_valid_json_with_its_id_and_within_bounds(
            value in json_value(),
            id in prop_oneof![any::<u32>().prop_map(|n| json!(n)), "[a-z0-9-]{1,10}".prop_map(Value::String)],
            cap in 1024usize..8192,
        ) {
            let message = json!({"jsonrpc": "2.0", "result": value, "id": id});
            let text = message.to_string();
            match cap_json(text.as_bytes(), cap) {
                Some(out) => {
                    let v: Value = serde_json::from_slice(&out).unwrap();
                    prop_assert_eq!(&v["id"], &id);
                    prop_assert!(out.len() <= cap * 2 + 64 * 1024);
                    if text.len() <= cap {
                        prop_assert_eq!(v, message);
                    }
                }
                None => prop_assert!(false, "an answer with an id is always answered"),
            }
        }
    }
}
