//! A benchmark of harnext's search tools and the change scan of its shell tool (not a
//! test: it asserts nothing about time). Run it through `bench/tools/run.sh`.
//!
//! It generates a deterministic tree (100,000 files by default) in a temporary
//! directory, then times, as medians of several runs with min and max:
//! - the `grep` tool against the `rg` command line on the same patterns and modes
//!   (`rg -n`, `rg -l`, `rg -c`), run alternately, with the ratio of the medians;
//! - the `glob` tool against `rg --files -g`;
//! - the change scan of the `bash` tool (one snapshot, the diff of two) against
//!   `rg --files`, and a `bash` call of `true` in that tree against one in an empty
//!   directory (the cost a call pays for tracking changes).
//!
//! Options: `--files N`, `--runs N`, `--dir PATH` (generate there and keep it),
//! `--no-rg` (skip the rg columns).

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harnext_tools::changes::Snapshot;
use harnext_tools::{BashTool, GlobTool, GrepTool, Tool, ToolContext, Workspace};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

type Res<T> = Result<T, Box<dyn Error>>;

struct Opts {
    files: usize,
    runs: usize,
    dir: Option<PathBuf>,
    rg: bool,
}

fn parse_opts() -> Res<Opts> {
    let mut opts = Opts {
        files: 100_000,
        runs: 7,
        dir: None,
        rg: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--files" => opts.files = value("--files")?.parse()?,
            "--runs" => opts.runs = value("--runs")?.parse()?,
            "--dir" => opts.dir = Some(PathBuf::from(value("--dir")?)),
            "--no-rg" => opts.rg = false,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if opts.runs == 0 || opts.files < 1_000 {
        return Err("--runs must be >= 1 and --files >= 1000".into());
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
struct TempTree(Option<PathBuf>);

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
    let rg_version = if opts.rg {
        rg_version().ok_or("`rg` was not found (install ripgrep, or pass --no-rg)")?
    } else {
        "skipped".to_string()
    };

    let started = Instant::now();
    let marker = root.join(".harnext-bench-tree");
    let tree = match std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| Tree::parse(&s))
    {
        Some(tree) if tree.files == opts.files => {
            eprintln!("reusing the tree in {}", root.display());
            tree
        }
        _ => {
            if marker.exists() {
                std::fs::remove_dir_all(&root)?;
            }
            let tree = generate(&root, opts.files)?;
            std::fs::write(&marker, tree.to_line())?;
            tree
        }
    };
    eprintln!(
        "tree: {} files ({} searchable, {} ignored, {} binary, {} hidden), {} MiB, in {:.1} s",
        tree.files,
        tree.searchable,
        tree.ignored,
        tree.binary,
        tree.hidden,
        tree.bytes >> 20,
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&root)?),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
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

    // The change scan: a snapshot, and the diff of two.
    let cancel = CancellationToken::new();
    let mut scans = Vec::new();
    let mut diffs = Vec::new();
    let mut walks = Vec::new();
    let mut files_in_snapshot = 0;
    for _ in 0..opts.runs {
        let t = Instant::now();
        let before = Snapshot::scan(&root, &cancel).map_err(|e| format!("{e:?}"))?;
        scans.push(t.elapsed());
        files_in_snapshot = before.len();
        let after = Snapshot::scan(&root, &cancel).map_err(|e| format!("{e:?}"))?;
        let t = Instant::now();
        let changes = before.diff(&after, &root);
        diffs.push(t.elapsed());
        if !changes.is_empty() {
            return Err(format!("{} changes seen in an unchanged tree", changes.len()).into());
        }
        if opts.rg {
            let t = Instant::now();
            rg(&root, &["--files", "--hidden", "-g", "!.git"])?;
            walks.push(t.elapsed());
        }
    }
    rows.push(Row {
        name: "change scan: one snapshot".to_string(),
        ours: Stats::of(&scans),
        theirs: opts.rg.then(|| Stats::of(&walks)),
        reference: "rg --files --hidden (walk, no stat)".to_string(),
        note: format!("{files_in_snapshot} files stamped (lstat each)"),
    });
    rows.push(Row {
        name: "change scan: diff of two snapshots".to_string(),
        ours: Stats::of(&diffs),
        theirs: None,
        reference: String::new(),
        note: String::new(),
    });

    // A bash call of `true`: in the tree (two scans + diff) and in an empty directory.
    let empty = std::env::temp_dir().join(format!("harnext-bench-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty)?;
    let _empty_cleanup = TempTree(Some(empty.clone()));
    let empty_ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&empty)?),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
    };
    let mut in_tree = Vec::new();
    let mut in_empty = Vec::new();
    for _ in 0..opts.runs {
        let t = Instant::now();
        call(&BashTool::default(), json!({"command": "true"}))?;
        in_tree.push(t.elapsed());
        let t = Instant::now();
        runtime
            .block_on(BashTool::default().call(json!({"command": "true"}), empty_ctx.clone()))
            .map_err(|e| e.to_string())?;
        in_empty.push(t.elapsed());
    }
    // The sandbox's cost per call: the same `echo hi` in the empty directory, plain and
    // in the default sandbox (workspace-write, no network), interleaved.
    let sandbox =
        harnext_sandbox::Sandbox::new(&harnext_sandbox::SandboxConfig::default(), &empty, None)
            .map_err(|e| e.to_string())?;
    let summary = sandbox.status().summary.clone();
    let boxed_ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&empty)?.with_sandbox(Arc::new(sandbox))),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
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
    rows.push(Row {
        name: "bash `true` in the tree (tracks changes)".to_string(),
        ours: Stats::of(&in_tree),
        theirs: None,
        reference: String::new(),
        note: format!("same call in an empty dir: {}", Stats::of(&in_empty).cell()),
    });
    // Sanity: a change made by a command is seen.
    call(
        &BashTool::default(),
        json!({"command": "touch src/bench-created.txt"}),
    )?;
    let changed = ctx.workspace.changed_files();
    let _ = std::fs::remove_file(root.join("src/bench-created.txt"));
    if !changed.iter().any(|p| p == "src/bench-created.txt") {
        return Err(format!("the change scan missed a created file: {changed:?}").into());
    }

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
fn rg(root: &Path, args: &[&str]) -> Res<String> {
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

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Stats {
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

    fn cell(&self) -> String {
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

struct Row {
    name: String,
    ours: Stats,
    theirs: Option<Stats>,
    reference: String,
    note: String,
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

/// What the generated tree holds.
#[derive(Default)]
struct Tree {
    files: usize,
    searchable: usize,
    ignored: usize,
    binary: usize,
    hidden: usize,
    bytes: u64,
}

impl Tree {
    /// The counts as one line, kept in the tree's marker file for `--dir` reuse.
    fn to_line(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.files, self.searchable, self.ignored, self.binary, self.hidden, self.bytes
        )
    }

    fn parse(line: &str) -> Option<Tree> {
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|s| s.parse().ok())
            .collect::<Option<_>>()?;
        let [files, searchable, ignored, binary, hidden, bytes] = n.as_slice() else {
            return None;
        };
        let size = |v: &u64| usize::try_from(*v).ok();
        Some(Tree {
            files: size(files)?,
            searchable: size(searchable)?,
            ignored: size(ignored)?,
            binary: size(binary)?,
            hidden: size(hidden)?,
            bytes: *bytes,
        })
    }
}

const WORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "return",
    "self",
    "struct",
    "impl",
    "match",
    "if",
    "else",
    "for",
    "in",
    "while",
    "loop",
    "pub",
    "use",
    "mod",
    "const",
    "static",
    "async",
    "await",
    "Some",
    "None",
    "Ok",
    "Err",
    "Result",
    "Option",
    "String",
    "Vec",
    "usize",
    "u64",
    "handle_request",
    "parse_config",
    "user_id",
    "session",
    "buffer",
    "index",
    "count",
    "value",
    "items",
    "ParseError",
    "IoError",
    "ConfigError",
    "request",
    "response",
    "client",
    "server",
    "=",
    "==",
    "+",
    "->",
    "=>",
    "{",
    "}",
    "(",
    ")",
    ";",
    "//",
    "TODO:",
    "Todo",
    "fixme",
    "42",
    "0",
    "1",
    "true",
    "false",
    "map",
    "filter",
    "collect",
    "iter",
    "unwrap_or",
    "clone",
];

/// Appends about `size` bytes of code-like lines.
fn fill_text(rng: &mut fastrand::Rng, out: &mut String, size: usize, sentinel: bool) {
    let start = out.len();
    let sentinel_at = rng.usize(..size.max(1));
    let mut placed = !sentinel;
    while out.len() - start < size {
        let indent = rng.usize(0..4) * 4;
        out.extend(std::iter::repeat_n(' ', indent));
        let words = rng.usize(3..12);
        for i in 0..words {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[rng.usize(..WORDS.len())]);
        }
        if !placed && out.len() - start >= sentinel_at {
            out.push_str(" XYZZY_SENTINEL");
            placed = true;
        }
        out.push('\n');
    }
    if !placed {
        out.push_str("XYZZY_SENTINEL\n");
    }
}

/// Generates the tree: sources under `src/` (most files), docs, binary assets, ignored
/// `target/`, `node_modules/` and `*.log`, a hidden `.config/`, a `.gitignore` and a
/// `.git` directory (so that `rg` applies the `.gitignore` too).
fn generate(root: &Path, total: usize) -> Res<Tree> {
    let mut rng = fastrand::Rng::with_seed(0x5eed_2024);
    let mut tree = Tree::default();
    std::fs::create_dir_all(root.join(".git"))?;
    std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n")?;
    std::fs::write(root.join(".gitignore"), "target/\nnode_modules/\n*.log\n")?;
    std::fs::write(root.join(".harnext-bench-tree"), "")?;
    tree.files += 2; // .gitignore and the marker: hidden
    tree.hidden += 2;

    let share = |pct: usize| total * pct / 1000;
    let mut text = String::new();
    let write = |rel: &str, data: &[u8], tree: &mut Tree| -> Res<()> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, data)?;
        tree.files += 1;
        tree.bytes += data.len() as u64;
        Ok(())
    };
    let size = |rng: &mut fastrand::Rng, i: usize| -> usize {
        if i % 20_000 == 19_999 {
            2 << 20
        } else if i % 100 == 99 {
            64 << 10
        } else {
            rng.usize(200..6_000)
        }
    };

    // Sources: 80%, in 40 × 25 directories.
    let exts = ["rs", "ts", "py", "go"];
    let n_src = share(800);
    for i in 0..n_src {
        text.clear();
        let s = size(&mut rng, i);
        fill_text(&mut rng, &mut text, s, i % 1_000 == 7);
        let rel = format!(
            "src/mod{:02}/sub{:02}/file{i:06}.{}",
            i % 40,
            (i / 40) % 25,
            exts[i % exts.len()]
        );
        write(&rel, text.as_bytes(), &mut tree)?;
        tree.searchable += 1;
    }
    // Docs: 2%.
    for i in 0..share(20) {
        text.clear();
        let s = rng.usize(500..4_000);
        fill_text(&mut rng, &mut text, s, false);
        write(&format!("docs/doc{i:04}.md"), text.as_bytes(), &mut tree)?;
        tree.searchable += 1;
    }
    // Binary assets: 1% (walked, skipped by binary detection).
    for i in 0..share(10) {
        let mut data = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let n = rng.usize(1_000..20_000);
        data.extend((0..n).map(|_| rng.u8(..)));
        data.extend_from_slice(b"return XYZZY_SENTINEL");
        write(&format!("assets/img{i:04}.png"), &data, &mut tree)?;
        tree.binary += 1;
        tree.searchable += 1;
    }
    // Ignored: target/ 8%, node_modules/ 8%, logs 0.5%.
    for (dir, pct, ext) in [
        ("target/debug/deps", 80, "rs"),
        ("node_modules/pkg", 80, "js"),
    ] {
        for i in 0..share(pct) {
            text.clear();
            let s = rng.usize(200..3_000);
            fill_text(&mut rng, &mut text, s, i % 500 == 3);
            write(
                &format!("{dir}{:02}/f{i:05}.{ext}", i % 50),
                text.as_bytes(),
                &mut tree,
            )?;
            tree.ignored += 1;
        }
    }
    for i in 0..share(5) {
        text.clear();
        fill_text(&mut rng, &mut text, 1_000, true);
        write(&format!("logs/run{i:04}.log"), text.as_bytes(), &mut tree)?;
        tree.ignored += 1;
    }
    // Hidden: 0.5%.
    for i in 0..share(5) {
        text.clear();
        fill_text(&mut rng, &mut text, 1_000, true);
        write(&format!(".config/c{i:04}.toml"), text.as_bytes(), &mut tree)?;
        tree.hidden += 1;
    }
    // Fill up to `total` with more sources in a flat directory.
    let mut i = 0;
    while tree.files < total {
        text.clear();
        let s = rng.usize(200..6_000);
        fill_text(&mut rng, &mut text, s, false);
        write(&format!("src/extra/x{i:06}.rs"), text.as_bytes(), &mut tree)?;
        tree.searchable += 1;
        i += 1;
    }
    Ok(tree)
}
