//! Capping what a tool shows the model: long outputs keep their beginning and their
//! end, with a note in between saying how much was cut.

/// The most characters a tool output shows the model (plus a short note when cut).
pub const MAX_OUTPUT_CHARS: usize = 30_000;

/// Returns `s` unchanged when it has at most `limit` characters; otherwise keeps about
/// `limit / 2` characters from its start and `limit / 2` from its end (cut on line
/// boundaries when one is near) with a note in between saying how much was cut.
///
/// The kept parts total at most `limit` characters; the note adds about 120 more.
pub fn cap_output(s: &str, limit: usize) -> String {
    let total = s.chars().count();
    if total <= limit {
        return s.to_string();
    }
    let head = head_part(s, limit / 2);
    let tail = tail_part(s, limit - limit / 2);
    let head_chars = head.chars().count();
    let tail_chars = tail.chars().count();
    let cut = total.saturating_sub(head_chars + tail_chars);
    let note = format!(
        "… [{} characters cut: output was {} characters; showing the first {} and the last {}] …",
        group_digits(cut as u64),
        group_digits(total as u64),
        group_digits(head_chars as u64),
        group_digits(tail_chars as u64),
    );
    join_with_note(head, tail, &note)
}

/// Like [`cap_output`] for an output whose middle was already dropped while it was
/// captured: `head` is its beginning, `tail` its end, `total_bytes` its full size.
pub(crate) fn cap_head_tail(head: &str, tail: &str, total_bytes: u64, limit: usize) -> String {
    let head = head_part(head, limit / 2);
    let tail = tail_part(tail, limit - limit / 2);
    let note = format!(
        "… [middle cut: output was {} bytes; showing the first {} and the last {} characters] …",
        group_digits(total_bytes),
        group_digits(head.chars().count() as u64),
        group_digits(tail.chars().count() as u64),
    );
    join_with_note(head, tail, &note)
}

fn join_with_note(head: &str, tail: &str, note: &str) -> String {
    let mut out = String::with_capacity(head.len() + note.len() + tail.len() + 2);
    out.push_str(head);
    if !head.is_empty() && !head.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(note);
    out.push('\n');
    out.push_str(tail);
    out
}

/// How far (in characters) a cut may move back to land on a line boundary.
fn slack(max_chars: usize) -> usize {
    (max_chars / 8).min(2_000)
}

/// Byte index of the `n`th character of `s` (`s.len()` when `s` is shorter).
fn byte_index(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// At most `max_chars` characters from the start of `s`, ending after a newline when
/// one is near the cut.
fn head_part(s: &str, max_chars: usize) -> &str {
    let end = byte_index(s, max_chars);
    if end >= s.len() {
        return s;
    }
    if s.as_bytes().get(end) == Some(&b'\n') {
        return &s[..end];
    }
    let window_start = byte_index(s, max_chars.saturating_sub(slack(max_chars)));
    match s[window_start..end].rfind('\n') {
        Some(i) => &s[..window_start + i + 1],
        None => &s[..end],
    }
}

/// At most `max_chars` characters from the end of `s`, starting after a newline when
/// one is near the cut.
fn tail_part(s: &str, max_chars: usize) -> &str {
    let total = s.chars().count();
    if total <= max_chars {
        return s;
    }
    let first = total - max_chars;
    let start = byte_index(s, first);
    if start > 0 && s.as_bytes().get(start - 1) == Some(&b'\n') {
        return &s[start..];
    }
    let window_end = byte_index(s, (first + slack(max_chars)).min(total));
    match s[start..window_end].find('\n') {
        Some(i) => &s[start + i + 1..],
        None => &s[start..],
    }
}

/// `12345` → `"12,345"`.
pub(crate) fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn short_output_is_unchanged() {
        assert_eq!(cap_output("hello\nworld\n", 100), "hello\nworld\n");
        assert_eq!(cap_output("", 0), "");
        let exact = "x".repeat(50);
        assert_eq!(cap_output(&exact, 50), exact);
    }

    #[test]
    fn cap_keeps_head_and_tail_with_note() {
        let s: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let total = s.chars().count();
        let out = cap_output(&s, 1_000);
        assert!(out.starts_with("line 0\nline 1\n"), "{out}");
        assert!(out.ends_with("line 9998\nline 9999\n"), "{out}");
        assert!(!out.contains("line 5000\n"));
        assert!(out.contains("characters cut"), "{out}");
        assert!(out.contains(&format!("output was {}", group_digits(total as u64))));
        // The kept parts stay within the limit; the note adds a little.
        assert!(
            out.chars().count() <= 1_000 + 150,
            "{}",
            out.chars().count()
        );
        // Cut on line boundaries: every kept line is whole.
        for line in out.lines().filter(|l| !l.contains("cut")) {
            assert!(line.starts_with("line "), "{line:?}");
        }
    }

    #[test]
    fn cap_respects_char_boundaries() {
        let s = "é😀".repeat(1_000);
        let out = cap_output(&s, 101);
        assert!(out.starts_with("é😀é"));
        assert!(out.ends_with("é😀"));
        assert!(
            out.contains("characters cut: output was 2,000 characters"),
            "{out}"
        );
    }

    #[test]
    fn cap_head_tail_reports_bytes() {
        let out = cap_head_tail("abc\n", "xyz\n", 1_000_000, 100);
        assert!(out.starts_with("abc\n"));
        assert!(out.ends_with("xyz\n"));
        assert!(out.contains("1,000,000 bytes"), "{out}");
    }

    #[test]
    fn group_digits_inserts_commas() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1,000");
        assert_eq!(group_digits(45_345), "45,345");
        assert_eq!(group_digits(1_234_567), "1,234,567");
    }
}
