//! Agent Skills: folders of instructions and resources for particular tasks, each with a
//! `SKILL.md` whose YAML front matter gives its `name` and `description`
//! (<https://agentskills.io>). They come from the `skills` option (a skill folder, or a
//! folder of skill folders) and from `.agents/skills/` in the workspace, found when a
//! run starts.
//!
//! The model sees each skill's name and description in the system prompt, and loads a
//! skill in full only when it asks for it, with the `skill` tool: a tool rather than
//! `read_file`, because skill folders given by the option may lie outside the workspace
//! (where `read_file` refuses to go), and because the tool reads only inside the skill
//! folders. A `SKILL.md` that cannot be used (no front matter, YAML that does not
//! parse, a missing or invalid name or description, a name taken) is left out with a
//! `warning` event naming the file and what is wrong; the run goes on.

use std::io::Read;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_tools::cap_output;
use harnext_tools::parse_args;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use harnext_tools::MAX_OUTPUT_CHARS;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

/// Most skills listed to the model (the rest are left out, with a warning).
pub const MAX_SKILLS: usize = 100;
/// Most characters of a description (the Agent Skills limit).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Most bytes read from a `SKILL.md` or a file of a skill folder.
pub const MAX_SKILL_FILE_BYTES: usize = 256 * 1024;
/// Most files listed from a skill folder.
const MAX_LISTED_FILES: usize = 50;

/// A usable skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skill {
    pub name: String,
    pub description: String,
    /// The skill folder, canonical.
    pub dir: PathBuf,
}

/// What a search for skills found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub skills: Vec<Skill>,
    /// A file left out, and why.
    pub warnings: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct FrontMatter {
    name: Option<Value>,
    description: Option<Value>,
}

/// The skills of the `skills` folders (relative to `cwd`), then of `cwd/.agents/skills`.
/// A skill whose name is taken by one found before is left out.
pub(crate) fn discover(option_dirs: &[PathBuf], cwd: &Path) -> Found {
    let mut found = Found::default();
    let mut folders: Vec<PathBuf> = Vec::new();
    for dir in option_dirs {
        folders.extend(skill_folders(&cwd.join(dir)));
    }
    folders.extend(skill_folders(&cwd.join(".agents").join("skills")));
    for dir in folders {
        let file = dir.join("SKILL.md");
        let shown = file.display().to_string();
        match read_skill(&dir) {
            Ok((skill, note)) => {
                if let Some(note) = note {
                    found
                        .warnings
                        .push((shown.clone(), format!("skill `{}`: {note}", skill.name)));
                }
                if found.skills.iter().any(|s| s.name == skill.name) {
                    found.warnings.push((
                        shown,
                        format!(
                            "skill `{}` is left out: a skill found before has that name",
                            skill.name
                        ),
                    ));
                } else if found.skills.len() == MAX_SKILLS {
                    found.warnings.push((
                        shown,
                        format!(
                            "skill `{}` is left out: at most {MAX_SKILLS} skills are listed",
                            skill.name
                        ),
                    ));
                } else {
                    found.skills.push(skill);
                }
            }
            Err(problem) => found
                .warnings
                .push((shown, format!("skill left out: {problem}"))),
        }
    }
    found
}

/// `dir` when it holds a `SKILL.md`, else its subfolders that do (sorted); nothing
/// when it is not a directory.
fn skill_folders(dir: &Path) -> Vec<PathBuf> {
    if dir.join("SKILL.md").is_file() {
        return dir.canonicalize().into_iter().collect();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("SKILL.md").is_file())
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    out.sort();
    out
}

/// Reads at most [`MAX_SKILL_FILE_BYTES`] of `path` as text.
fn read_capped(path: &Path) -> Result<(String, bool), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_SKILL_FILE_BYTES).unwrap_or(u64::MAX) + 1;
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let cut = bytes.len() > MAX_SKILL_FILE_BYTES;
    bytes.truncate(MAX_SKILL_FILE_BYTES);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), cut))
}

/// The front matter (YAML between a first line `---` and the next `---`) and the body.
fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Whether `name` follows the Agent Skills rule: 1 to 64 characters of lowercase
/// letters, digits and hyphens, neither starting nor ending with a hyphen, no `--`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// `key: value` lines, for front matter that is not valid YAML only because a value
/// holds `: ` unquoted (`description: Use when: ...`, common in hand-written skills).
fn plain_lines(yaml: &str) -> FrontMatter {
    let value = |key: &str| {
        yaml.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            Some(Value::String(rest.trim().to_owned()))
        })
    };
    FrontMatter {
        name: value("name"),
        description: value("description"),
    }
}

/// A skill, and a note when its front matter had to be read leniently.
fn read_skill(dir: &Path) -> Result<(Skill, Option<String>), String> {
    let (text, _) = read_capped(&dir.join("SKILL.md"))?;
    let (yaml, _) = split_front_matter(&text).ok_or(
        "SKILL.md does not start with YAML front matter (a `---` line, `name:` and `description:`, a `---` line)",
    )?;
    match serde_norway::from_str::<FrontMatter>(yaml) {
        Ok(matter) => Ok((checked_skill(dir, matter)?, None)),
        Err(e) => {
            let problem = format!("its front matter is not valid YAML: {e}");
            match checked_skill(dir, plain_lines(yaml)) {
                Ok(skill) => Ok((
                    skill,
                    Some(format!(
                        "{problem}; read as plain `key: value` lines instead (quote values that hold `: `)"
                    )),
                )),
                Err(_) => Err(problem),
            }
        }
    }
}

fn checked_skill(dir: &Path, matter: FrontMatter) -> Result<Skill, String> {
    let field = |v: Option<Value>, key: &str| -> Result<String, String> {
        match v {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(Value::String(_)) | None => Err(format!("its front matter has no `{key}`")),
            Some(other) => Err(format!(
                "its front matter's `{key}` is not a string: {other}"
            )),
        }
    };
    let name = field(matter.name, "name")?;
    if !valid_name(&name) {
        return Err(format!(
            "its name {name:?} is not 1 to 64 characters of lowercase letters, digits and single hyphens"
        ));
    }
    let description = field(matter.description, "description")?;
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "its description has {chars} characters; at most {MAX_DESCRIPTION_CHARS}"
        ));
    }
    Ok(Skill {
        name,
        description: description.split_whitespace().collect::<Vec<_>>().join(" "),
        dir: dir.to_path_buf(),
    })
}

/// The system prompt's part that lists the skills.
pub(crate) fn system_text(skills: &[Skill]) -> String {
    let mut out = "# Skills\n\nSkills are folders of instructions, scripts and resources for particular tasks. When a task matches a skill's description, load the skill with the `skill` tool ({\"name\": \"<name>\"}) before you start, and follow it; load a file it mentions with {\"name\": \"<name>\", \"file\": \"<path in the skill folder>\"}. Available skills:".to_owned();
    for s in skills {
        out.push_str(&format!("\n- {}: {}", s.name, s.description));
    }
    out
}

/// The `skill` tool: loads a skill's `SKILL.md`, or a file of its folder.
pub(crate) struct SkillTool {
    pub skills: Arc<Vec<Skill>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    file: Option<String>,
}

impl Tool for SkillTool {
    fn name(&self) -> &str {
        "skill"
    }

    fn description(&self) -> &str {
        "Load a skill listed in the system prompt: its SKILL.md instructions and the list of files in its folder. With `file`, load one file of the skill's folder instead (a path relative to the folder, as SKILL.md names it)."
    }

    fn input_schema(&self) -> Value {
        let names: Vec<&str> = self.skills.iter().map(|s| s.name.as_str()).collect();
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "enum": names, "description": "The skill's name."},
                "file": {"type": "string", "description": "A file of the skill's folder, relative to it. Default: SKILL.md."}
            },
            "required": ["name"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    fn call(
        &self,
        args: Value,
        _ctx: ToolContext,
    ) -> BoxFuture<'static, Result<String, ToolError>> {
        let skills = self.skills.clone();
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let Some(skill) = skills.iter().find(|s| s.name == args.name) else {
                let names: Vec<&str> = skills.iter().map(|s| s.name.as_str()).collect();
                return Err(ToolError::InvalidArgs(format!(
                    "no skill is named {:?}; the skills are: {}",
                    args.name,
                    names.join(", ")
                )));
            };
            let skill = skill.clone();
            tokio::task::spawn_blocking(move || load(&skill, args.file.as_deref()))
                .await
                .map_err(|e| ToolError::Failed(format!("loading the skill failed: {e}")))?
        })
    }
}

/// The text of a skill (its body and its files), or of one of its files.
fn load(skill: &Skill, file: Option<&str>) -> Result<String, ToolError> {
    let wanted = file
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "SKILL.md");
    let Some(file) = wanted else {
        let (text, cut) = read_capped(&skill.dir.join("SKILL.md"))
            .map_err(|p| ToolError::Failed(format!("SKILL.md: {p}")))?;
        let body = split_front_matter(&text).map_or(text.as_str(), |(_, body)| body);
        let mut out = format!(
            "Skill `{}` (folder {}):\n\n{}",
            skill.name,
            skill.dir.display(),
            body.trim()
        );
        if cut {
            out.push_str(&format!(
                "\n[SKILL.md is cut at {MAX_SKILL_FILE_BYTES} bytes.]"
            ));
        }
        let files = list_files(&skill.dir);
        if !files.is_empty() {
            out.push_str("\n\nFiles in the skill folder (load one with `file`):\n");
            out.push_str(&files.join("\n"));
        }
        return Ok(cap_output(&out, MAX_OUTPUT_CHARS));
    };
    // Only inside the skill folder: `..` and links leading out are refused.
    let path = skill
        .dir
        .join(file)
        .canonicalize()
        .map_err(|e| ToolError::Failed(format!("{file}: {e} (in skill `{}`)", skill.name)))?;
    if !path.starts_with(&skill.dir) {
        return Err(ToolError::Failed(format!(
            "{file} is outside the folder of skill `{}`",
            skill.name
        )));
    }
    if !path.is_file() {
        return Err(ToolError::Failed(format!(
            "{file} is not a file of skill `{}`",
            skill.name
        )));
    }
    let (text, cut) = read_capped(&path).map_err(|p| ToolError::Failed(format!("{file}: {p}")))?;
    let mut out = text;
    if cut {
        out.push_str(&format!(
            "\n[{file} is cut at {MAX_SKILL_FILE_BYTES} bytes.]"
        ));
    }
    Ok(cap_output(&out, MAX_OUTPUT_CHARS))
}

/// The files of a skill folder (relative, sorted, SKILL.md left out), at most
/// [`MAX_LISTED_FILES`], hidden files and symbolic links skipped.
fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    // A folder with a huge tree (a `node_modules`) is not walked whole.
    let mut visited = 0usize;
    while let Some(at) = stack.pop() {
        visited += 1;
        if visited > 1_000 {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if hidden || kind.is_symlink() {
                continue;
            }
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                if rel != Path::new("SKILL.md") {
                    out.push(rel.display().to_string());
                }
            }
        }
        if out.len() > 10 * MAX_LISTED_FILES {
            break;
        }
    }
    out.sort();
    if out.len() > MAX_LISTED_FILES {
        let more = out.len() - MAX_LISTED_FILES;
        out.truncate(MAX_LISTED_FILES);
        out.push(format!("… and {more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn skill(root: &Path, folder: &str, text: &str) {
        let dir = root.join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("SKILL.md"), text).unwrap();
    }

    #[test]
    fn skills_come_from_the_option_then_the_workspace_and_bad_ones_are_warnings() {
        let ws = tempfile::tempdir().unwrap();
        let extra = tempfile::tempdir().unwrap();
        skill(
            extra.path(),
            "pdf",
            "---\nname: pdf\ndescription: >\n  Fill PDF\n  forms.\n---\n# PDF\nUse pdftk.\n",
        );
        let agents = ws.path().join(".agents/skills");
        skill(
            &agents,
            "a-ok",
            "---\r\nname: a-ok\r\ndescription: \"Does A\"\r\nlicense: MIT\r\n---\r\nbody",
        );
        skill(&agents, "b-none", "# no front matter\n");
        skill(
            &agents,
            "c-yaml",
            "---\nname: [unclosed\ndescription: x\n---\n",
        );
        skill(&agents, "d-noname", "---\ndescription: x\n---\n");
        skill(
            &agents,
            "e-upper",
            "---\nname: Bad_Name\ndescription: x\n---\n",
        );
        skill(
            &agents,
            "f-dup",
            "---\nname: pdf\ndescription: again\n---\n",
        );
        skill(
            &agents,
            "g-long",
            &format!(
                "---\nname: g-long\ndescription: {}\n---\n",
                "x".repeat(1025)
            ),
        );
        skill(&agents, "h-unclosed", "---\nname: h\ndescription: x\n");
        skill(&agents, "i-num", "---\nname: 12\ndescription: x\n---\n");
        skill(
            &agents,
            "j-colon",
            "---\nname: j-colon\ndescription: Use when: the user asks\n---\n",
        );
        let found = discover(&[extra.path().to_path_buf()], ws.path());
        let names: Vec<(&str, &str)> = found
            .skills
            .iter()
            .map(|s| (s.name.as_str(), s.description.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("pdf", "Fill PDF forms."),
                ("a-ok", "Does A"),
                ("j-colon", "Use when: the user asks")
            ]
        );
        let problems: Vec<String> = found
            .warnings
            .iter()
            .map(|(path, m)| {
                format!(
                    "{} {m}",
                    Path::new(path)
                        .parent()
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                )
            })
            .collect();
        let expect = [
            "b-none skill left out: SKILL.md does not start with YAML front matter",
            "c-yaml skill left out: its front matter is not valid YAML",
            "d-noname skill left out: its front matter has no `name`",
            "e-upper skill left out: its name \"Bad_Name\" is not",
            "f-dup skill `pdf` is left out: a skill found before has that name",
            "g-long skill left out: its description has 1025 characters; at most 1024",
            "h-unclosed skill left out: SKILL.md does not start with YAML front matter",
            "i-num skill left out: its front matter's `name` is not a string: 12",
            "j-colon skill `j-colon`: its front matter is not valid YAML",
        ];
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(expect) {
            assert!(got.starts_with(want), "{got} / {want}");
        }
        let text = system_text(&found.skills);
        assert!(
            text.contains("- pdf: Fill PDF forms.\n- a-ok: Does A"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_skill_tool_loads_the_body_and_files_of_the_folder_only() {
        let root = tempfile::tempdir().unwrap();
        skill(
            root.path(),
            "pdf",
            "---\nname: pdf\ndescription: PDFs\n---\n# PDF\nRun scripts/fill.py.\n",
        );
        std::fs::create_dir_all(root.path().join("pdf/scripts")).unwrap();
        std::fs::write(root.path().join("pdf/scripts/fill.py"), "print('fill')\n").unwrap();
        std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
        let found = discover(&[root.path().to_path_buf()], root.path());
        let tool = SkillTool {
            skills: Arc::new(found.skills),
        };
        let ws = Arc::new(harnext_tools::Workspace::new(root.path()).unwrap());
        let ctx = ToolContext {
            workspace: ws,
            cancel: tokio_util::sync::CancellationToken::new(),
            call_id: "c".into(),
            escalated: None,
            todos: None,
            images: None,
        };
        let out = tool
            .call(json!({"name": "pdf"}), ctx.clone())
            .await
            .unwrap();
        assert!(out.starts_with("Skill `pdf` (folder "), "{out}");
        assert!(
            out.contains("# PDF\nRun scripts/fill.py.") && !out.contains("description: PDFs"),
            "{out}"
        );
        assert!(
            out.ends_with("Files in the skill folder (load one with `file`):\nscripts/fill.py"),
            "{out}"
        );
        let file = tool
            .call(
                json!({"name": "pdf", "file": "scripts/fill.py"}),
                ctx.clone(),
            )
            .await
            .unwrap();
        assert_eq!(file, "print('fill')\n");
        let e = tool
            .call(json!({"name": "pdf", "file": "../secret.txt"}), ctx.clone())
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("outside the folder of skill `pdf`"),
            "{e}"
        );
        let e = tool.call(json!({"name": "nope"}), ctx).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("no skill is named \"nope\"; the skills are: pdf"),
            "{e}"
        );
        assert_eq!(
            tool.input_schema()["properties"]["name"]["enum"],
            json!(["pdf"])
        );
    }
}
