//! What the model reads: the found files as text (by mode), cut to [`BUDGET`] at file or
//! line boundaries with a note of what is not shown, and the totals.

use std::fmt::Write as _;

use grep_matcher::Matcher;
use grep_regex::RegexMatcher;

use super::query::{Collector, Query};
use super::{Mode, BUDGET, MAX_LINE_CHARS};
use crate::output::group_digits;
use crate::MAX_OUTPUT_CHARS;

impl Query {
    pub(super) fn render(&self, found: Collector, searched: u64) -> String {
        if found.files.is_empty() {
            let mut msg = format!(
                "No matches for `{}` in `{}` ({} file{} searched",
                self.pattern,
                self.display,
                group_digits(searched),
                plural(searched)
            );
            if let Some(glob) = &self.glob {
                msg.push_str(&format!(
                    " matching glob `{glob}`, relative to `{}`",
                    self.display
                ));
            }
            if !self.root_is_file {
                msg.push_str(
                    "; files ignored by .gitignore/.ignore, hidden files and binary files are skipped",
                );
            }
            msg.push(')');
            return msg;
        }
        let files = found.total_files;
        let lines = found.matched_lines;
        let totals = match self.mode {
            Mode::FilesWithMatches => format!("{} file{}", group_digits(files), plural(files)),
            _ => format!(
                "{} matching line{} in {} file{}",
                group_digits(lines),
                plural(lines),
                group_digits(files),
                plural(files)
            ),
        };
        let mut out = String::new();
        let mut shown_files = 0u64;
        let mut shown_lines = 0u64;
        let mut cut = false;
        for (path, file) in &found.files {
            let block = match self.mode {
                Mode::Content => {
                    let len = path.len() + file.text.len() + 2;
                    if out.len() + len > BUDGET || !file.complete {
                        // Show the beginning of this file's lines when there is room.
                        let room = BUDGET.saturating_sub(out.len() + path.len() + 2);
                        if room >= 2_000 || shown_files == 0 {
                            let part = head_lines(&file.text, room);
                            shown_lines += count_match_lines(part);
                            shown_files += 1;
                            out.push_str(path);
                            out.push('\n');
                            out.push_str(part);
                            out.push('\n');
                        }
                        cut = true;
                        break;
                    }
                    shown_lines += file.matches;
                    format!("{path}\n{}\n", file.text)
                }
                Mode::FilesWithMatches => format!("{path}\n"),
                Mode::Count => format!("{path}:{}\n", file.matches),
            };
            if out.len() + block.len() > BUDGET {
                cut = true;
                break;
            }
            out.push_str(&block);
            shown_files += 1;
        }
        cut |= shown_files < files;
        match (self.mode, cut) {
            (_, false) => {
                let _ = write!(out, "[{totals}]");
            }
            (Mode::Content, true) => {
                let _ = write!(
                    out,
                    "[output limit of {} characters reached: showing {} of {totals}, from {}. \
                     Narrow the pattern, path or glob, or use output_mode \"files_with_matches\" \
                     or \"count\".]",
                    group_digits(MAX_OUTPUT_CHARS as u64),
                    group_digits(shown_lines),
                    match shown_files {
                        1 => "the first file".to_string(),
                        n => format!("the first {} files", group_digits(n)),
                    }
                );
            }
            (Mode::FilesWithMatches, true) => {
                let _ = write!(
                    out,
                    "[output limit of {} characters reached: showing {} of {totals}. \
                     Narrow the pattern, path or glob.]",
                    group_digits(MAX_OUTPUT_CHARS as u64),
                    group_digits(shown_files),
                );
            }
            (Mode::Count, true) => {
                let _ = write!(
                    out,
                    "[output limit of {} characters reached: showing {} of {} files ({totals}). \
                     Narrow the pattern, path or glob.]",
                    group_digits(MAX_OUTPUT_CHARS as u64),
                    group_digits(shown_files),
                    group_digits(files)
                );
            }
        }
        out
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The part of `text` that fits in `room` bytes, cut after a line.
fn head_lines(text: &str, room: usize) -> &str {
    if text.len() <= room {
        return text;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    }
}

/// Lines of rendered content that are matches (`12:text`), not context (`12-text`).
pub(super) fn count_match_lines(text: &str) -> u64 {
    text.lines()
        .filter(|line| {
            let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
            rest.len() < line.len() && rest.starts_with(':')
        })
        .count() as u64
}

/// Appends `12:text\n`; a line over [`MAX_LINE_CHARS`] characters is shown as an
/// excerpt around its first match (or its beginning).
pub(super) fn push_line(
    out: &mut String,
    line_no: u64,
    sep: char,
    bytes: &[u8],
    matcher: Option<&RegexMatcher>,
) {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let _ = write!(out, "{line_no}{sep}");
    if text.len() <= MAX_LINE_CHARS {
        out.push_str(&text);
        out.push('\n');
        return;
    }
    let total = text.chars().count();
    if total <= MAX_LINE_CHARS {
        out.push_str(&text);
        out.push('\n');
        return;
    }
    let match_start = matcher
        .and_then(|m| m.find(line).ok().flatten())
        .map_or(0, |m| {
            String::from_utf8_lossy(&line[..m.start()]).chars().count()
        });
    let from = match_start
        .saturating_sub(MAX_LINE_CHARS / 4)
        .min(total - MAX_LINE_CHARS);
    let excerpt: String = text.chars().skip(from).take(MAX_LINE_CHARS).collect();
    if from > 0 {
        out.push('…');
    }
    out.push_str(&excerpt);
    if from + MAX_LINE_CHARS < total {
        out.push('…');
    }
    let _ = writeln!(
        out,
        " [line cut: {} characters, showing {}-{}]",
        group_digits(total as u64),
        group_digits(from as u64 + 1),
        group_digits((from + MAX_LINE_CHARS) as u64)
    );
}
