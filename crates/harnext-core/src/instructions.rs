//! Project instructions: the `AGENTS.md` files a repository keeps for agents (or
//! `CLAUDE.md` in a directory without an `AGENTS.md`), added to the context as Codex and
//! Claude Code do.
//!
//! - **The workspace root's** file goes into the system prompt of each run, read when the
//!   run starts (an edit between runs is seen by the next run).
//! - **A subdirectory's** file is added when a file tool (`read_file`, `write_file`,
//!   `edit_file`, `multi_edit`, `glob`, `grep`) first touches that directory or one below
//!   it in the run: as a note after that call's output. The model gets it next to the
//!   work it concerns, the history keeps it exactly once, and the prompt before it (and
//!   its cache) is left unchanged, where a system prompt growing mid-run would re-send
//!   everything uncached. The note is also in the call's `tool_result`, so the user sees
//!   what the model was told.
//!
//! Files are read through the workspace (beneath its root, symbolic links leading out
//! refused), at most [`MAX_INSTRUCTIONS_BYTES`] each: a longer file is cut there, with a
//! note to the model and a `warning` event.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;

use harnext_tools::Workspace;
use serde_json::Value;

/// Most bytes read from one instructions file (Codex's default cap too).
pub const MAX_INSTRUCTIONS_BYTES: usize = 32 * 1024;

/// The file names looked for in each directory, in order: the first that exists counts.
pub const FILE_NAMES: [&str; 2] = ["AGENTS.md", "CLAUDE.md"];

/// The file tools whose `path` argument makes a directory "worked in".
const FILE_TOOLS: [&str; 6] = [
    "read_file",
    "write_file",
    "edit_file",
    "multi_edit",
    "glob",
    "grep",
];

/// One instructions file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Doc {
    /// Relative to the workspace root (`AGENTS.md`, `src/api/CLAUDE.md`).
    pub path: String,
    pub text: String,
    /// The file was longer than [`MAX_INSTRUCTIONS_BYTES`] and was cut.
    pub cut: bool,
}

/// The instructions of one run: which directories were looked at already.
#[derive(Default)]
pub(crate) struct ProjectInstructions {
    seen: Mutex<HashSet<PathBuf>>,
}

impl ProjectInstructions {
    /// The workspace root's file, for the system prompt (the root counts as seen).
    pub fn root(&self, workspace: &Workspace) -> Option<Doc> {
        let root = workspace.root().to_path_buf();
        self.seen_now(&root);
        read_doc(workspace, &root)
    }

    /// The files of the directories a call of `tool` with `args` touches that no call of
    /// the run touched before, from the outermost down.
    pub fn first_touched(&self, workspace: &Workspace, tool: &str, args: &Value) -> Vec<Doc> {
        if !FILE_TOOLS.contains(&tool) {
            return Vec::new();
        }
        let path = args
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(".");
        let Ok(abs) = workspace.resolve(path) else {
            return Vec::new();
        };
        // A file's directory; a directory (glob, grep) itself.
        let dir = if workspace.metadata(&abs).is_ok_and(|m| m.is_dir()) {
            abs
        } else {
            match abs.parent() {
                Some(p) => p.to_path_buf(),
                None => return Vec::new(),
            }
        };
        let root = workspace.root();
        let Ok(rel) = dir.strip_prefix(root) else {
            return Vec::new();
        };
        let mut docs = Vec::new();
        let mut at = root.to_path_buf();
        for part in rel.components() {
            at.push(part);
            if self.seen_now(&at) {
                if let Some(doc) = read_doc(workspace, &at) {
                    docs.push(doc);
                }
            }
        }
        docs
    }

    /// Marks `dir` seen; whether it was not before.
    fn seen_now(&self, dir: &Path) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_path_buf())
    }
}

/// The instructions file of `dir`: its `AGENTS.md`, else its `CLAUDE.md`; `None` when
/// there is none, it cannot be read, or it is blank.
fn read_doc(workspace: &Workspace, dir: &Path) -> Option<Doc> {
    for name in FILE_NAMES {
        let abs = dir.join(name);
        let Ok(meta) = workspace.metadata(&abs) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // An `AGENTS.md` there decides, even when it cannot be read or is blank.
        let file = workspace.open_read(&abs).ok()?;
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_INSTRUCTIONS_BYTES).unwrap_or(u64::MAX) + 1;
        file.take(limit).read_to_end(&mut bytes).ok()?;
        let cut = bytes.len() > MAX_INSTRUCTIONS_BYTES;
        bytes.truncate(MAX_INSTRUCTIONS_BYTES);
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if cut {
            // A character cut in two by the cap is dropped.
            if text.ends_with('\u{FFFD}') {
                text.pop();
            }
        }
        let text = text.trim().to_owned();
        if text.is_empty() {
            return None;
        }
        return Some(Doc {
            path: workspace.relative(&abs),
            text,
            cut,
        });
    }
    None
}

/// The system prompt's part for the root file.
pub(crate) fn system_text(doc: &Doc) -> String {
    let mut out = format!(
        "# Project instructions\n\nThe repository keeps instructions for agents in {path} at its root. Follow them unless the user asks otherwise. A subdirectory's AGENTS.md (or CLAUDE.md) applies to the files below it and is shown to you after the first tool call that works there.\n\n<project_instructions path=\"{path}\">\n{text}\n</project_instructions>",
        path = doc.path,
        text = doc.text
    );
    if doc.cut {
        out.push_str(&cut_note(doc));
    }
    out
}

/// The note after a call's output for the files of the directories it first touched.
pub(crate) fn tool_note(docs: &[Doc]) -> String {
    let mut out = String::new();
    for doc in docs {
        let dir = Path::new(&doc.path)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "\n\n<project_instructions path=\"{path}\">\nInstructions for the files under {dir}/ (from {path}; they add to the root's and take precedence over them there):\n{text}\n</project_instructions>",
            path = doc.path,
            text = doc.text
        ));
        if doc.cut {
            out.push_str(&cut_note(doc));
        }
    }
    out
}

fn cut_note(doc: &Doc) -> String {
    format!(
        "\n[{} is longer than {} bytes: only its beginning is shown; read the file for the rest.]",
        doc.path, MAX_INSTRUCTIONS_BYTES
    )
}

/// The `warning` a cut file gets.
pub(crate) fn cut_warning(doc: &Doc) -> harnext_protocol::AgentEvent {
    harnext_protocol::AgentEvent::Warning {
        message: format!(
            "project instructions {} are longer than {MAX_INSTRUCTIONS_BYTES} bytes: the model sees their first {MAX_INSTRUCTIONS_BYTES} bytes",
            doc.path
        ),
        path: Some(doc.path.clone()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        (dir, ws)
    }

    #[test]
    fn agents_md_wins_over_claude_md_and_a_blank_or_missing_file_is_none() {
        let (dir, ws) = workspace();
        let p = ProjectInstructions::default();
        assert_eq!(p.root(&ws), None);
        std::fs::write(dir.path().join("CLAUDE.md"), "Use tabs.\n").unwrap();
        assert_eq!(p.root(&ws).unwrap().text, "Use tabs.");
        std::fs::write(dir.path().join("AGENTS.md"), "  \n").unwrap();
        assert_eq!(p.root(&ws), None, "a blank AGENTS.md decides");
        std::fs::write(dir.path().join("AGENTS.md"), "Run `make test`.").unwrap();
        let doc = p.root(&ws).unwrap();
        assert_eq!(
            (doc.path.as_str(), doc.text.as_str(), doc.cut),
            ("AGENTS.md", "Run `make test`.", false)
        );
    }

    #[test]
    fn a_long_file_is_cut_at_the_cap_on_a_character_boundary() {
        let (dir, ws) = workspace();
        let text = "é".repeat(MAX_INSTRUCTIONS_BYTES);
        std::fs::write(dir.path().join("AGENTS.md"), &text).unwrap();
        let doc = ProjectInstructions::default().root(&ws).unwrap();
        assert!(doc.cut);
        assert_eq!(doc.text.len(), MAX_INSTRUCTIONS_BYTES);
        assert!(system_text(&doc).contains("longer than 32768 bytes"));
    }

    #[test]
    fn nested_files_come_once_each_from_the_outermost_down_for_file_tools_only() {
        let (dir, ws) = workspace();
        let deep = dir.path().join("src/api");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(dir.path().join("src/AGENTS.md"), "src rules").unwrap();
        std::fs::write(deep.join("CLAUDE.md"), "api rules").unwrap();
        std::fs::write(deep.join("users.rs"), "fn main() {}").unwrap();
        let p = ProjectInstructions::default();
        p.root(&ws);
        let args = json!({"path": "src/api/users.rs"});
        assert!(p
            .first_touched(&ws, "bash", &json!({"command": "cat src/api/users.rs"}))
            .is_empty());
        let docs = p.first_touched(&ws, "read_file", &args);
        let paths: Vec<&str> = docs.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["src/AGENTS.md", "src/api/CLAUDE.md"]);
        let note = tool_note(&docs);
        assert!(
            note.contains("Instructions for the files under src/api/"),
            "{note}"
        );
        assert!(note.contains("api rules") && note.contains("src rules"));
        assert!(
            p.first_touched(&ws, "edit_file", &args).is_empty(),
            "once per run"
        );
        // A directory argument (grep, glob) counts as the directory itself.
        let p = ProjectInstructions::default();
        let docs = p.first_touched(&ws, "grep", &json!({"pattern": "x", "path": "src"}));
        assert_eq!(docs.len(), 1);
        // Paths outside the workspace are nothing.
        assert!(p
            .first_touched(&ws, "read_file", &json!({"path": "../x"}))
            .is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn an_instructions_file_linked_from_outside_the_workspace_is_not_read() {
        let (dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "secret").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.md"),
            dir.path().join("AGENTS.md"),
        )
        .unwrap();
        assert_eq!(ProjectInstructions::default().root(&ws), None);
    }
}
