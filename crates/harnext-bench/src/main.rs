//! Benchmarks of harnext's tools on a generated tree (not tests: they assert nothing
//! about time). Run them through `bench/tools/run.sh`.
//!
//! `harnext-bench [--files N] [--runs N] [--dir PATH] [--no-rg] [--git]` generates a
//! deterministic tree (100,000 files by default) in a temporary directory, then times, as
//! medians of several runs with min and max:
//! - the `grep` tool against the `rg` command line on the same patterns and modes
//!   (`rg -n`, `rg -l`, `rg -c`), run alternately, with the ratio of the medians;
//! - the `glob` tool against `rg --files -g`;
//! - the ways of tracking what a `bash` command changed (see [`tracking`]): a walk of
//!   the tree (against `rg --files`), a re-stamp of every known path, `git status`
//!   (with `--git`: the tree is made a git repository first), and the inotify watcher
//!   harnext uses, with what a `bash` call costs in the tree.
//!
//! `harnext-bench tree --dir PATH [--files N] [--empty]` only generates (or reuses) the
//! tree, for `bench/run.mjs`.

mod tracking;
mod tree;

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harnext_tools::{BashTool, GlobTool, GrepTool, Tool, ToolContext, Workspace};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use tree::Tree;

type Res<T> = Result<T, Box<dyn Error>>;

struct Opts {
    files: usize,
    runs: usize,
    dir: Option<PathBuf>,
    rg: bool,
    git: bool,
    /// `tree`: only generate the tree.
    tree_only: bool,
    empty: bool,
    /// `--checkpoints`: only the rows of the checkpoints (rewind).
    checkpoints_only: bool,
}

fn parse_opts() -> Res<Opts> {
    let mut opts = Opts {
        files: 100_000,
        runs: 7,
        dir: None,
        rg: true,
        git: false,
        tree_only: false,
        empty: false,
        checkpoints_only: false,
    };
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("tree") {
        args.next();
        opts.tree_only = true;
    }
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--files" => opts.files = value("--files")?.parse()?,
            "--runs" => opts.runs = value("--runs")?.parse()?,
            "--dir" => opts.dir = Some(PathBuf::from(value("--dir")?)),
            "--no-rg" => opts.rg = false,
            "--git" => opts.git = true,
            "--checkpoints" => opts.checkpoints_only = true,
            "--empty" if opts.tree_only => opts.empty = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if opts.runs == 0 || opts.files < 1_000 {
        return Err("--runs must be >= 1 and --files >= 1000".into());
    }
    if opts.tree_only && opts.dir.is_none() {
        return Err("`tree` needs --dir".into());
    }
    Ok(opts)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harnext-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Removes the generated tree when the benchmark ends (unless `--dir` was given).
pub(crate) struct TempTree(Option<PathBuf>);

impl Drop for TempTree {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

fn run() -> Res<()> {
    let opts = parse_opts()?;
    let (root, _cleanup) = match &opts.dir {
        Some(dir) => (dir.clone(), TempTree(None)),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "harnext-bench-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            (dir.clone(), TempTree(Some(dir)))
        }
    };
    if opts.tree_only {
        let tree = tree::ensure(&root, opts.files, opts.empty)?;
        println!(
            "{}",
            json!({"files": tree.files, "searchable": tree.searchable, "ignored": tree.ignored, "bytes": tree.bytes})
        );
        return Ok(());
    }
    let rg_version = if opts.rg {
        rg_version().ok_or("`rg` was not found (install ripgrep, or pass --no-rg)")?
    } else {
        "skipped".to_string()
    };
    let tree = tree::ensure(&root, opts.files, false)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if opts.checkpoints_only {
        let rows = tracking::checkpoints(&runtime, &root, opts.runs)?;
        print_table(&opts, &tree, &rg_version, &rows);
        return Ok(());
    }
    let ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&root)?),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
        escalated: None,
        todos: None,
        images: None,
    };
    let call = |tool: &dyn Tool, args: Value| -> Res<String> {
        runtime
            .block_on(tool.call(args, ctx.clone()))
            .map_err(|e| e.to_string().into())
    };

    // Warm the page cache and the dentry cache for both sides.
    call(&GrepTool, json!({"pattern": "warmup_never_matches_zq"}))?;
    if opts.rg {
        rg(&root, &["-n", "warmup_never_matches_zq"])?;
    }

    let mut rows: Vec<Row> = Vec::new();
    let grep_cases: &[(&str, &str, &[&str], Value)] = &[
        (
            "grep rare literal (content)",
            "XYZZY_SENTINEL",
            &["-n"],
            json!({}),
        ),
        (
            "grep common literal (content)",
            "return",
            &["-n"],
            json!({}),
        ),
        (
            "grep common literal (files_with_matches)",
            "return",
            &["-l"],
            json!({"output_mode": "files_with_matches"}),
        ),
        (
            "grep regex (count)",
            r"[A-Z][a-z]+Error\b",
            &["-c"],
            json!({"output_mode": "count"}),
        ),
        (
            "grep regex (content)",
            r"[A-Z][a-z]+Error\b",
            &["-n"],
            json!({}),
        ),
        (
            "grep case-insensitive (content)",
            "todo",
            &["-n", "-i"],
            json!({"case_insensitive": true}),
        ),
    ];
    for (name, pattern, rg_flags, extra) in grep_cases {
        let mut args = json!({ "pattern": pattern });
        if let (Some(map), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        let mut rg_args: Vec<&str> = rg_flags.to_vec();
        rg_args.push(pattern);
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut last_out = String::new();
        let mut last_rg = String::new();
        for _ in 0..opts.runs {
            let t = Instant::now();
            last_out = call(&GrepTool, args.clone())?;
            ours.push(t.elapsed());
            if opts.rg {
                let t = Instant::now();
                last_rg = rg(&root, &rg_args)?;
                theirs.push(t.elapsed());
            }
        }
        let agree = if opts.rg {
            Some(totals_agree(rg_flags, &last_out, &last_rg))
        } else {
            None
        };
        rows.push(Row {
            name: name.to_string(),
            ours: Stats::of(&ours),
            theirs: opts.rg.then(|| Stats::of(&theirs)),
            reference: format!("rg {}", rg_args.join(" ")),
            note: match agree {
                Some(true) | None => summary(&last_out),
                Some(false) => format!("TOTALS DIFFER from rg: {}", summary(&last_out)),
            },
        });
    }

    // glob against `rg --files -g`.
    {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut last_out = String::new();
        for _ in 0..opts.runs {
            let t = Instant::now();
            last_out = call(&GlobTool, json!({"pattern": "**/*.rs"}))?;
            ours.push(t.elapsed());
            if opts.rg {
                let t = Instant::now();
                rg(&root, &["--files", "-g", "**/*.rs"])?;
                theirs.push(t.elapsed());
            }
        }
        rows.push(Row {
            name: "glob **/*.rs (sorted by mtime)".to_string(),
            ours: Stats::of(&ours),
            theirs: opts.rg.then(|| Stats::of(&theirs)),
            reference: "rg --files -g '**/*.rs'".to_string(),
            note: summary(&last_out),
        });
    }

    rows.extend(tracking::measure(
        &runtime, &root, opts.runs, opts.rg, opts.git,
    )?);

    // The sandbox's cost per call: the same `echo hi` in an empty directory, plain and
    // in the default sandbox (workspace-write, no network), interleaved.
    let empty = std::env::temp_dir().join(format!("harnext-bench-boxed-{}", std::process::id()));
    std::fs::create_dir_all(&empty)?;
    let _empty_cleanup = TempTree(Some(empty.clone()));
    let empty_ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&empty)?),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
        escalated: None,
        todos: None,
        images: None,
    };
    let sandbox =
        harnext_sandbox::Sandbox::new(&harnext_sandbox::SandboxConfig::default(), &empty, None)
            .map_err(|e| e.to_string())?;
    let summary = sandbox.status().summary.clone();
    let boxed_ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&empty)?.with_sandbox(Arc::new(sandbox))),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
        escalated: None,
        todos: None,
        images: None,
    };
    let mut plain = Vec::new();
    let mut boxed = Vec::new();
    for _ in 0..opts.runs.max(20) {
        let t = Instant::now();
        runtime
            .block_on(BashTool::default().call(json!({"command": "echo hi"}), empty_ctx.clone()))
            .map_err(|e| e.to_string())?;
        plain.push(t.elapsed());
        let t = Instant::now();
        runtime
            .block_on(BashTool::default().call(json!({"command": "echo hi"}), boxed_ctx.clone()))
            .map_err(|e| e.to_string())?;
        boxed.push(t.elapsed());
    }
    rows.push(Row {
        name: "bash `echo hi`, sandboxed (empty dir)".to_string(),
        ours: Stats::of(&boxed),
        theirs: Some(Stats::of(&plain)),
        reference: "the same call unsandboxed".to_string(),
        note: summary.chars().take(60).collect(),
    });

    print_table(&opts, &tree, &rg_version, &rows);
    Ok(())
}

fn rg_version() -> Option<String> {
    let out = Command::new("rg").arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

/// Runs `rg` in `root`, reading all its output (a pipe, as the tool's caller would).
pub(crate) fn rg(root: &Path, args: &[&str]) -> Res<String> {
    let out = Command::new("rg")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    match out.status.code() {
        Some(0 | 1) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => Err(format!("rg {args:?} failed: {}", out.status).into()),
    }
}

/// The closing `[...]` line of a tool's output.
fn summary(out: &str) -> String {
    out.lines()
        .last()
        .unwrap_or("")
        .trim_matches(|c| c == '[' || c == ']')
        .chars()
        .take(60)
        .collect()
}

/// The number written just before `at` in `s` (`1,234` → 1234).
fn number_before(s: &str, at: usize) -> Option<u64> {
    let head = s.get(..at)?.trim_end();
    let start = head
        .rfind(|c: char| !c.is_ascii_digit() && c != ',')
        .map_or(0, |i| i + 1);
    head.get(start..)?.replace(',', "").parse().ok()
}

/// The totals of the closing line: `[matching lines, files]` (content and count modes,
/// from "A matching lines in B files") or `[files]` (files mode, from "B files").
fn totals(out: &str) -> Vec<u64> {
    let last = out.lines().last().unwrap_or("");
    if let Some(at) = last.find(" matching line") {
        let after = last.get(at..).unwrap_or("");
        let files = after.find(" file").and_then(|f| number_before(after, f));
        return number_before(last, at).into_iter().chain(files).collect();
    }
    last.rfind(" file")
        .and_then(|at| number_before(last, at))
        .into_iter()
        .collect()
}

/// Whether our totals equal what rg printed.
fn totals_agree(rg_flags: &[&str], ours: &str, rg_out: &str) -> bool {
    let ours = totals(ours);
    if rg_flags.contains(&"-l") {
        let files = rg_out.lines().count() as u64;
        return ours.first() == Some(&files);
    }
    if rg_flags.contains(&"-c") {
        let lines: u64 = rg_out
            .lines()
            .filter_map(|l| l.rsplit(':').next()?.parse::<u64>().ok())
            .sum();
        let files = rg_out.lines().count() as u64;
        return ours == vec![lines, files];
    }
    let lines = rg_out.lines().count() as u64;
    let mut files: Vec<&str> = rg_out.lines().filter_map(|l| l.split(':').next()).collect();
    files.dedup();
    ours == vec![lines, files.len() as u64]
}

pub(crate) struct Stats {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Stats {
    pub(crate) fn of(samples: &[Duration]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let n = sorted.len();
        let median = if n == 0 {
            Duration::ZERO
        } else if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        Stats {
            median,
            min: sorted.first().copied().unwrap_or_default(),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }

    pub(crate) fn cell(&self) -> String {
        format!("{} ({}–{})", ms(self.median), ms(self.min), ms(self.max))
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

pub(crate) struct Row {
    pub name: String,
    pub ours: Stats,
    pub theirs: Option<Stats>,
    pub reference: String,
    pub note: String,
}

fn print_table(opts: &Opts, tree: &Tree, rg_version: &str, rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} files ({} searched by default), {} MiB; {} runs each; {cores} cores; {rg_version}\n",
        tree.files,
        tree.searchable,
        tree.bytes >> 20,
        opts.runs
    );
    let _ = writeln!(
        out,
        "| case | harnext ms: median (min–max) | reference | reference ms | ratio | result |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in rows {
        let (reference, ratio) = match &row.theirs {
            Some(theirs) => (
                theirs.cell(),
                format!(
                    "{:.2}×",
                    row.ours.median.as_secs_f64() / theirs.median.as_secs_f64().max(1e-9)
                ),
            ),
            None => ("—".to_string(), "—".to_string()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            row.ours.cell(),
            if row.reference.is_empty() {
                "—"
            } else {
                &row.reference
            },
            reference,
            ratio,
            row.note
        );
    }
    println!("{out}");
}
