//! `read_file`: a window of a text file's lines, numbered.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use tokio_util::sync::CancellationToken;

use crate::filetype::{self, Kind};
use crate::fsutil::{self, io_failure};
use crate::output::group_digits;
use crate::schema::schema_for;
use crate::{cap_output, parse_args, Tool, ToolContext, ToolError, Workspace, MAX_OUTPUT_CHARS};

/// Lines shown when the call gives no `limit`.
const DEFAULT_LIMIT: u64 = 2_000;
/// Longer lines are cut to this many characters.
const MAX_LINE_CHARS: usize = 2_000;
/// Bytes of a line kept while reading (enough for `MAX_LINE_CHARS` characters).
const KEEP_LINE_BYTES: usize = MAX_LINE_CHARS * 4 + 4;
/// How much of the file is examined to tell text from binary.
const SNIFF_BYTES: usize = 8 * 1024;
/// Room left under [`MAX_OUTPUT_CHARS`] for the closing note.
const LINES_BUDGET: usize = MAX_OUTPUT_CHARS - 200;
/// The lines after the window are counted (for the closing note) only when at most this
/// many bytes remain; past that the note gives the file's size instead of reading it all.
const MAX_COUNT_BYTES: u64 = 16 * 1024 * 1024;

const DESCRIPTION: &str = "Read a text file in the workspace. Returns its lines as \
`<line number><TAB><line>`; the numbers start at 1 and are not part of the file (leave them \
out of edit_file's old_text). Shows up to `limit` lines (default 2000) starting at line \
`offset` (default 1); when more lines remain, a final note gives the offset to continue \
from. Lines longer than 2000 characters are cut; the output is capped at 30000 characters. \
PNG, JPEG, GIF and WebP images (up to 3,932,160 bytes) are returned to you as images. Other binary \
files are not shown (the error says what the file is); directories \
are refused. Paths are relative to the workspace root.";

/// The `read_file` tool.
pub struct ReadFileTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// File to read, relative to the workspace root.
    path: String,
    /// First line to show, 1-based. Default 1.
    #[schemars(range(min = 1))]
    offset: Option<u64>,
    /// Most lines to show. Default 2000.
    #[schemars(range(min = 1))]
    limit: Option<u64>,
}

impl Tool for ReadFileTool {
    fn name(&self) -> &str {
        "read_file"
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        schema_for::<Args>()
    }

    fn read_only(&self) -> bool {
        true
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let offset = args.offset.unwrap_or(1).max(1);
            let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
            if limit == 0 {
                return Err(ToolError::InvalidArgs(
                    "limit must be at least 1".to_string(),
                ));
            }
            let abs = ctx.workspace.resolve(&args.path)?;
            let display = ctx.workspace.relative(&abs);
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            // A PNG, JPEG, GIF or WebP (by its magic bytes) goes to the model as an image
            // where the run can return images (see `ToolContext::images`).
            if let Some(sink) = ctx.images.clone() {
                let (ws, head) = (ctx.workspace.clone(), abs.clone());
                // Non-blocking, beneath the root; only a regular file is sniffed (the
                // text path below reports anything else).
                let media_type = fsutil::blocking(move || {
                    let mut buf = [0u8; 16];
                    let n = ws
                        .open_read(&head)
                        .and_then(|mut f| {
                            if f.metadata()?.is_file() {
                                f.read(&mut buf)
                            } else {
                                Ok(0)
                            }
                        })
                        .unwrap_or(0);
                    Ok(harnext_protocol::image::sniff_media_type(&buf[..n]))
                })
                .await?;
                if let Some(media_type) = media_type {
                    let workspace = ctx.workspace.clone();
                    let path = args.path.clone();
                    let source =
                        fsutil::blocking(move || crate::load_image(&workspace, &path)).await?;
                    let bytes = match &source {
                        harnext_protocol::ImageSource::Base64 { data, .. } => data.len() / 4 * 3,
                        _ => 0,
                    };
                    sink.push(&ctx.call_id, source);
                    return Ok(format!(
                        "`{display}` is an image ({media_type}, about {bytes} bytes); it is attached to this result."
                    ));
                }
            }
            let cancel = ctx.cancel.clone();
            let workspace = ctx.workspace.clone();
            let work = fsutil::blocking(move || {
                read_window(&workspace, &abs, &display, offset, limit, &cancel)
            });
            tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => Err(ToolError::Cancelled),
                result = work => result.map(|text| cap_output(&text, MAX_OUTPUT_CHARS)),
            }
        })
    }
}

/// The file being read: stops with an error once the call is cancelled (so a huge
/// file is not read to its end for nothing), and counts the bytes read.
struct Source<'a> {
    file: File,
    cancel: &'a CancellationToken,
    read: u64,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other(Cancelled));
        }
        let n = self.file.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The error a [`Source`] returns once cancelled.
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Why a file that is not UTF-8 text is not shown.
fn not_text_message(display: &str, len: u64, kind: Option<Kind>) -> String {
    let bytes = group_digits(len);
    match kind {
        Some(Kind::Image { format, size }) => {
            let dims = size.map_or(String::new(), |(w, h)| format!(", {w}×{h} pixels"));
            format!(
                "`{display}` is an image ({format}{dims}, {bytes} bytes); read_file shows text \
                 only and cannot display it"
            )
        }
        Some(Kind::Utf16) => format!(
            "`{display}` is UTF-16 text ({bytes} bytes); read_file reads UTF-8. Convert a copy \
             with the bash tool, e.g. `iconv -f UTF-16 -t UTF-8 {display}`"
        ),
        Some(Kind::Binary(what)) => format!(
            "`{display}` is a binary file ({what}, {bytes} bytes); read_file only shows text. \
             Inspect it with the bash tool instead (e.g. `file {display}`)"
        ),
        None => format!(
            "`{display}` is a binary file ({bytes} bytes); read_file only shows text. Inspect it \
             with the bash tool instead (e.g. `file {display}` or `xxd {display} | head`)"
        ),
    }
}

/// Reads lines `offset..offset + limit` of the file at `abs`, numbered. The file is
/// streamed: lines before the window are skipped as they are read, at most
/// `KEEP_LINE_BYTES` of a line are kept, and the lines after the window are counted
/// only when few bytes remain.
fn read_window(
    workspace: &Workspace,
    abs: &Path,
    display: &str,
    offset: u64,
    limit: u64,
    cancel: &CancellationToken,
) -> Result<String, ToolError> {
    // Opened first, then checked through the handle: what is read is what was checked,
    // inside the workspace.
    let file = workspace
        .open_read(abs)
        .map_err(|e| io_failure("read", display, &e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_failure("read", display, &e))?;
    if meta.is_dir() {
        return Err(ToolError::Failed(format!(
            "`{display}` is a directory, not a file; list it with the glob tool or the bash tool (e.g. `ls {display}`)"
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::Failed(format!(
            "`{display}` is not a regular file (a device, socket or pipe); read_file only reads files"
        )));
    }
    let read_err = |e: io::Error| {
        if e.get_ref().is_some_and(|inner| inner.is::<Cancelled>()) {
            ToolError::Cancelled
        } else {
            io_failure("read", display, &e)
        }
    };
    let mut source = Source {
        file,
        cancel,
        read: 0,
    };
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    (&mut source)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(read_err)?;
    let kind = filetype::sniff(&sample);
    if kind.is_some() || looks_binary(&sample) {
        return Err(ToolError::Failed(not_text_message(
            display,
            meta.len(),
            kind,
        )));
    }
    // A UTF-8 byte-order mark is not shown (edit_file keeps it in the file).
    let skip_bom = if sample.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let mut sample = io::Cursor::new(sample);
    sample.set_position(skip_bom);
    let mut reader = BufReader::with_capacity(64 * 1024, sample.chain(&mut source));
    let mut kept = Vec::new();

    let mut line_no: u64 = 0;
    while line_no + 1 < offset {
        match next_line(&mut reader, 0, &mut kept).map_err(read_err)? {
            Some(_) => line_no += 1,
            None => break,
        }
    }
    if line_no + 1 < offset {
        return Err(ToolError::Failed(format!(
            "offset {offset} is past the end of `{display}`, which has {line_no} line{}",
            plural(line_no)
        )));
    }

    let mut out = String::new();
    let mut out_chars = 0usize;
    let mut shown: u64 = 0;
    let mut unshown_read: u64 = 0;
    let mut budget_hit = false;
    let mut at_eof = false;
    while shown < limit {
        let Some(extra_chars) =
            next_line(&mut reader, KEEP_LINE_BYTES, &mut kept).map_err(read_err)?
        else {
            at_eof = true;
            break;
        };
        line_no += 1;
        let entry = format_line(line_no, &kept, extra_chars);
        let entry_chars = entry.chars().count();
        if shown > 0 && out_chars + entry_chars > LINES_BUDGET {
            unshown_read = 1;
            budget_hit = true;
            break;
        }
        out.push_str(&entry);
        out_chars += entry_chars;
        shown += 1;
    }

    if shown == 0 {
        // Only reachable at end of file: `offset` is the line just past the last one.
        return if line_no == 0 {
            Ok(format!("(`{display}` is empty)"))
        } else {
            Err(ToolError::Failed(format!(
                "offset {offset} is past the end of `{display}`, which has {line_no} line{}",
                plural(line_no)
            )))
        };
    }

    let left_unread = meta.len().saturating_sub(reader.get_ref().get_ref().1.read);
    let remaining = if at_eof {
        Some(0)
    } else if left_unread > MAX_COUNT_BYTES {
        None
    } else {
        Some(unshown_read + count_lines(&mut reader).map_err(read_err)?)
    };
    let Some(remaining) = remaining else {
        let next = line_no - unshown_read + 1;
        out.push_str(&format!(
            "… more lines follow (the file has {} bytes, about {} not read yet); call again \
             with offset={next}",
            group_digits(meta.len()),
            group_digits(left_unread)
        ));
        return Ok(out);
    };
    if remaining > 0 {
        let next = line_no - unshown_read + 1;
        if budget_hit {
            out.push_str(&format!(
                "… output limit of {} characters reached; {remaining} more line{}; call again with offset={next}",
                group_digits(MAX_OUTPUT_CHARS as u64),
                plural(remaining)
            ));
        } else {
            out.push_str(&format!(
                "… {remaining} more line{}; call again with offset={next}",
                plural(remaining)
            ));
        }
    }
    Ok(out)
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `     12\tline text\n`, the line cut to [`MAX_LINE_CHARS`] with a marker.
fn format_line(line_no: u64, kept: &[u8], extra_chars: usize) -> String {
    let text = String::from_utf8_lossy(kept);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    let chars = text.chars().count() + extra_chars;
    if chars > MAX_LINE_CHARS {
        let cut: String = text.chars().take(MAX_LINE_CHARS).collect();
        format!(
            "{line_no:>6}\t{cut}… [line cut: it has {} characters]\n",
            group_digits(chars as u64)
        )
    } else {
        format!("{line_no:>6}\t{text}\n")
    }
}

/// Reads one line, keeping at most `keep` bytes of it (without its newline) in `kept`.
/// Returns how many characters of the line were not kept, or `None` at end of file.
fn next_line(r: &mut impl BufRead, keep: usize, kept: &mut Vec<u8>) -> io::Result<Option<usize>> {
    kept.clear();
    let mut extra_chars = 0usize;
    let mut any = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(extra_chars));
        }
        any = true;
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = match newline {
            Some(i) => &buf[..i],
            None => buf,
        };
        let take = keep.saturating_sub(kept.len()).min(chunk.len());
        kept.extend_from_slice(&chunk[..take]);
        // Count characters by their first bytes (not UTF-8 continuation bytes).
        extra_chars += chunk[take..].iter().filter(|&&b| b & 0xC0 != 0x80).count();
        let consumed = newline.map_or(chunk.len(), |i| i + 1);
        r.consume(consumed);
        if newline.is_some() {
            return Ok(Some(extra_chars));
        }
    }
}

/// Counts the lines left in `r` (a last line without a newline counts).
fn count_lines(r: &mut impl BufRead) -> io::Result<u64> {
    let mut lines = 0u64;
    let mut last = None;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf.last().copied();
        let len = buf.len();
        r.consume(len);
    }
    if last.is_some_and(|b| b != b'\n') {
        lines += 1;
    }
    Ok(lines)
}

/// True when the sample has a NUL byte, or when more than 30% of it is invalid UTF-8
/// or control characters.
fn looks_binary(sample: &[u8]) -> bool {
    if sample.contains(&0) {
        return true;
    }
    let mut bad = 0usize;
    for chunk in sample.utf8_chunks() {
        bad += chunk.invalid().len();
        bad += chunk
            .valid()
            .chars()
            .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c' | '\x1b'))
            .count();
    }
    bad * 10 > sample.len() * 3
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_support::ctx;
    use serde_json::json;

    async fn read(ctx: &ToolContext, args: Value) -> Result<String, ToolError> {
        ReadFileTool.call(args, ctx.clone()).await
    }

    #[tokio::test]
    async fn read_shows_numbered_lines() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        let out = read(&ctx, json!({"path": "a.txt"})).await.unwrap();
        assert_eq!(out, "     1\tone\n     2\ttwo\n     3\tthree\n");
    }

    #[tokio::test]
    async fn read_window_with_offset_and_limit() {
        let (_dir, ctx) = ctx();
        let text: String = (1..=10).map(|i| format!("line{i}\n")).collect();
        std::fs::write(ctx.workspace.root().join("a.txt"), text).unwrap();
        let out = read(&ctx, json!({"path": "a.txt", "offset": 3, "limit": 2}))
            .await
            .unwrap();
        assert_eq!(
            out,
            "     3\tline3\n     4\tline4\n… 6 more lines; call again with offset=5"
        );
        // The last window has no note; a last line without newline counts.
        std::fs::write(ctx.workspace.root().join("b.txt"), "x\ny\nz").unwrap();
        let out = read(&ctx, json!({"path": "b.txt", "offset": 2, "limit": 5}))
            .await
            .unwrap();
        assert_eq!(out, "     2\ty\n     3\tz\n");
        let out = read(&ctx, json!({"path": "b.txt", "limit": 1}))
            .await
            .unwrap();
        assert_eq!(out, "     1\tx\n… 2 more lines; call again with offset=2");
    }

    #[tokio::test]
    async fn read_past_end_and_empty_file() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join("a.txt"), "x\ny\n").unwrap();
        let err = read(&ctx, json!({"path": "a.txt", "offset": 3}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        assert!(err.to_string().contains("2 lines"), "{err}");
        std::fs::write(ctx.workspace.root().join("empty.txt"), "").unwrap();
        let out = read(&ctx, json!({"path": "empty.txt"})).await.unwrap();
        assert!(out.contains("empty"), "{out}");
    }

    #[tokio::test]
    async fn read_cuts_long_lines() {
        let (_dir, ctx) = ctx();
        let long = "é".repeat(5_000);
        std::fs::write(
            ctx.workspace.root().join("a.txt"),
            format!("{long}\nshort\n"),
        )
        .unwrap();
        let out = read(&ctx, json!({"path": "a.txt"})).await.unwrap();
        let first = out.lines().next().unwrap();
        assert!(
            first.contains("[line cut: it has 5,000 characters]"),
            "{first}"
        );
        assert_eq!(first.matches('é').count(), MAX_LINE_CHARS);
        assert!(out.contains("     2\tshort\n"));
    }

    #[tokio::test]
    async fn read_stops_at_output_limit_with_offset_note() {
        let (_dir, ctx) = ctx();
        let text: String = (1..=1_000).map(|i| format!("{i:0>99}\n")).collect();
        std::fs::write(ctx.workspace.root().join("a.txt"), text).unwrap();
        let out = read(&ctx, json!({"path": "a.txt"})).await.unwrap();
        assert!(out.chars().count() <= MAX_OUTPUT_CHARS, "{}", out.len());
        let shown = out.lines().filter(|l| l.contains('\t')).count() as u64;
        assert!(shown > 100 && shown < 1_000, "{shown}");
        assert!(
            out.ends_with(&format!(
                "{} more lines; call again with offset={}",
                1_000 - shown,
                shown + 1
            )),
            "{}",
            out.lines().last().unwrap()
        );
    }

    #[tokio::test]
    async fn binary_file_is_refused() {
        let (_dir, ctx) = ctx();
        let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
        bytes.extend([0u8; 100]);
        std::fs::write(ctx.workspace.root().join("prog"), &bytes).unwrap();
        let err = read(&ctx, json!({"path": "prog"})).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`prog` is a binary file (an ELF executable or library, 107 bytes)"),
            "{msg}"
        );
        // Mostly invalid UTF-8 without NUL is binary too.
        let junk: Vec<u8> = (0..1_000).map(|i| 0x80 + (i % 64) as u8).collect();
        std::fs::write(ctx.workspace.root().join("junk"), &junk).unwrap();
        let err = read(&ctx, json!({"path": "junk"})).await.unwrap_err();
        assert!(err.to_string().contains("binary file"), "{err}");
    }

    #[tokio::test]
    async fn image_is_described_with_type_and_size() {
        let (_dir, ctx) = ctx();
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(640u32.to_be_bytes());
        png.extend(480u32.to_be_bytes());
        png.extend([0u8; 1_000]);
        std::fs::write(ctx.workspace.root().join("logo.png"), &png).unwrap();
        let err = read(&ctx, json!({"path": "logo.png"})).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "`logo.png` is an image (PNG, 640×480 pixels, 1,024 bytes); read_file shows text \
             only and cannot display it"
        );
        // Named by content, not by extension.
        std::fs::write(
            ctx.workspace.root().join("photo.dat"),
            b"GIF89a\x02\0\x03\0\0",
        )
        .unwrap();
        let err = read(&ctx, json!({"path": "photo.dat"})).await.unwrap_err();
        assert!(
            err.to_string().contains("an image (GIF, 2×3 pixels"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn utf16_is_named_and_utf8_bom_is_not_shown() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join("w.txt"), b"\xff\xfeh\0i\0").unwrap();
        let err = read(&ctx, json!({"path": "w.txt"})).await.unwrap_err();
        assert!(err.to_string().contains("is UTF-16 text"), "{err}");
        std::fs::write(
            ctx.workspace.root().join("b.txt"),
            "\u{feff}first\nsecond\n",
        )
        .unwrap();
        let out = read(&ctx, json!({"path": "b.txt"})).await.unwrap();
        assert_eq!(out, "     1\tfirst\n     2\tsecond\n");
    }

    /// A 40 MiB file of short lines plus one 8 MiB line.
    fn huge_file(ctx: &ToolContext) -> std::path::PathBuf {
        use std::io::Write;
        let path = ctx.workspace.root().join("huge.log");
        let mut file = std::io::BufWriter::new(File::create(&path).unwrap());
        writeln!(file, "{}", "x".repeat(8 << 20)).unwrap();
        for i in 0..2_000_000u32 {
            writeln!(file, "line {i:>12}").unwrap();
        }
        file.flush().unwrap();
        path
    }

    #[tokio::test]
    async fn huge_file_window_does_not_read_the_rest() {
        let (_dir, ctx) = ctx();
        huge_file(&ctx);
        let out = read(&ctx, json!({"path": "huge.log", "limit": 3}))
            .await
            .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].ends_with("… [line cut: it has 8,388,608 characters]"),
            "{}",
            &lines[0][lines[0].len() - 60..]
        );
        assert_eq!(lines[1], "     2\tline            0");
        assert_eq!(lines[2], "     3\tline            1");
        assert!(
            lines[3].starts_with("… more lines follow (the file has 44,388,609 bytes, about"),
            "{}",
            lines[3]
        );
        assert!(
            lines[3].ends_with("call again with offset=4"),
            "{}",
            lines[3]
        );
        // A window deep in the file.
        let out = read(
            &ctx,
            json!({"path": "huge.log", "offset": 1_999_999, "limit": 2}),
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            "1999999\tline      1999997\n2000000\tline      1999998\n… 1 more line; call again with offset=2000001"
        );
    }

    #[tokio::test]
    async fn cancel_stops_reading_a_huge_file() {
        let (_dir, ctx) = ctx();
        huge_file(&ctx);
        // Skipping to the last line reads the whole file; the cancel stops it.
        let call = ReadFileTool.call(
            json!({"path": "huge.log", "offset": 2_000_001}),
            ctx.clone(),
        );
        let task = tokio::spawn(call);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let at = std::time::Instant::now();
        ctx.cancel.cancel();
        let result = task.await.unwrap();
        assert!(matches!(result, Err(ToolError::Cancelled)), "{result:?}");
        assert!(
            at.elapsed() < std::time::Duration::from_millis(200),
            "{:?}",
            at.elapsed()
        );
        // The blocking reader itself stops at its next read.
        let mut source = Source {
            file: File::open(ctx.workspace.root().join("huge.log")).unwrap(),
            cancel: &ctx.cancel,
            read: 0,
        };
        let err = source.read(&mut [0u8; 16]).unwrap_err();
        assert!(err.get_ref().unwrap().is::<Cancelled>());
        assert_eq!(source.read, 0);
    }

    #[tokio::test]
    async fn latin1_text_is_read_lossily() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join("a.txt"), b"caf\xe9 au lait\n").unwrap();
        let out = read(&ctx, json!({"path": "a.txt"})).await.unwrap();
        assert_eq!(out, "     1\tcaf\u{fffd} au lait\n");
    }

    #[tokio::test]
    async fn missing_file_and_directory_are_clear_errors() {
        let (_dir, ctx) = ctx();
        let err = read(&ctx, json!({"path": "nope/x.rs"})).await.unwrap_err();
        assert!(err.to_string().contains("`nope/x.rs`"), "{err}");
        assert!(err.to_string().contains("not found"), "{err}");
        std::fs::create_dir(ctx.workspace.root().join("d")).unwrap();
        let err = read(&ctx, json!({"path": "d"})).await.unwrap_err();
        assert!(err.to_string().contains("`d` is a directory"), "{err}");
    }

    #[tokio::test]
    async fn read_refuses_escapes_and_bad_args() {
        let (_dir, ctx) = ctx();
        let err = read(&ctx, json!({"path": "../x"})).await.unwrap_err();
        assert!(matches!(err, ToolError::OutsideWorkspace { .. }), "{err}");
        let err = read(&ctx, json!({"path": "a", "limit": 0}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
        let err = read(&ctx, json!({"file": "a"})).await.unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    }
}
