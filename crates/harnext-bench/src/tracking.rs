//! The ways of tracking what a `bash` command changed, measured on the same tree:
//!
//! - walking the tree before and after each command (harnext's fallback), against
//!   `rg --files --hidden` (the same walk without the `lstat` per file);
//! - re-stamping every path known from the last walk (an incremental snapshot that
//!   skips the listing of unchanged directories cannot do less: a file's content can
//!   change without its directory changing, so every file needs its `lstat`);
//! - `git status` (with `--git`), which compares the index's cached stamps with
//!   `lstat` of every tracked file and lists the untracked ones;
//! - the inotify watcher harnext uses: the first `bash` call of a run (it walks the
//!   tree and watches its directories), then calls that change nothing, one file, or
//!   create a directory of 100 files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harnext_tools::changes::{Index, TrackerOptions, TrackingMode};
use harnext_tools::{BashTool, Tool, ToolContext, Workspace};
use serde_json::json;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::{rg, Res, Row, Stats};

fn context(root: &Path) -> Res<ToolContext> {
    Ok(ToolContext {
        workspace: Arc::new(Workspace::new(root)?),
        cancel: CancellationToken::new(),
        call_id: "bench".to_string(),
        escalated: None,
        todos: None,
        images: None,
    })
}

fn bash(runtime: &Runtime, ctx: &ToolContext, command: &str) -> Res<Duration> {
    let started = Instant::now();
    runtime
        .block_on(BashTool::default().call(json!({ "command": command }), ctx.clone()))
        .map_err(|e| format!("bash `{command}`: {e}"))?;
    Ok(started.elapsed())
}

fn row(name: &str, ours: &[Duration], note: String) -> Row {
    Row {
        name: name.to_string(),
        ours: Stats::of(ours),
        theirs: None,
        reference: String::new(),
        note,
    }
}

pub(crate) fn measure(
    runtime: &Runtime,
    root: &Path,
    runs: usize,
    with_rg: bool,
    with_git: bool,
) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    let cancel = CancellationToken::new();

    // 1. Walking: one walk, and a bash call that walks before and after.
    let mut walks = Vec::new();
    let mut rg_walks = Vec::new();
    let mut files = 0;
    let mut dirs = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let index = Index::scan(root, &cancel, usize::MAX)
            .map_err(|e| format!("{e:?}"))?
            .ok_or("the tree is too large")?;
        walks.push(t.elapsed());
        files = index.len();
        dirs = index.dirs();
        if with_rg {
            let t = Instant::now();
            rg(root, &["--files", "--hidden", "-g", "!.git"])?;
            rg_walks.push(t.elapsed());
        }
    }
    rows.push(Row {
        name: "tracking by walking: one walk".to_string(),
        ours: Stats::of(&walks),
        theirs: with_rg.then(|| Stats::of(&rg_walks)),
        reference: "rg --files --hidden (walk, no stat)".to_string(),
        note: format!("{files} files in {dirs} directories stamped (lstat each)"),
    });
    let scanning = context(root)?;
    scanning
        .workspace
        .change_tracker()
        .set_options(TrackerOptions {
            never_watch: true,
            ..TrackerOptions::default()
        });
    let mut calls = Vec::new();
    for _ in 0..runs {
        calls.push(bash(runtime, &scanning, "true")?);
    }
    rows.push(row(
        "tracking by walking: bash `true` (a walk before and after)",
        &calls,
        "harnext's fallback".to_string(),
    ));
    drop(scanning);

    // 2. Re-stamping every known path.
    let mut paths = Vec::new();
    for entry in ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build()
        .flatten()
    {
        paths.push(entry.into_path());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut stamps = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let chunk = paths.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for part in paths.chunks(chunk) {
                s.spawn(move || {
                    part.iter()
                        .filter(|p| std::fs::symlink_metadata(p).is_ok())
                        .count()
                });
            }
        });
        stamps.push(t.elapsed());
    }
    rows.push(row(
        "tracking by re-stamping every known path",
        &stamps,
        format!(
            "{} lstat calls on {threads} threads: the least an incremental snapshot costs per scan",
            paths.len()
        ),
    ));
    drop(paths);

    // 3. git status.
    if with_git {
        rows.extend(git_status(root, runs)?);
    }

    // 4. Watching.
    let mut firsts = Vec::new();
    let mut index_bytes = 0;
    let mut watched = 0;
    let mut ctx = context(root)?;
    for _ in 0..runs.min(3) {
        ctx = context(root)?;
        firsts.push(bash(runtime, &ctx, "true")?);
        index_bytes = ctx.workspace.change_tracker().index_bytes();
        watched = ctx.workspace.change_tracker().watched_dirs();
        if ctx.workspace.change_tracker().mode() != TrackingMode::Watching {
            return Err(format!(
                "the tree is not watched: {:?}",
                ctx.workspace.change_tracker().fallback()
            )
            .into());
        }
    }
    rows.push(row(
        "tracking by watching: first bash call of a run",
        &firsts,
        format!(
            "walks the tree, watches {watched} directories; index {:.1} MB",
            index_bytes as f64 / 1e6
        ),
    ));
    // What a command pays for tracking, without the command: the tracker's two syncs.
    let mut syncs = Vec::new();
    for _ in 0..runs.max(21) {
        let t = Instant::now();
        let tracker = ctx.workspace.change_tracker();
        tracker
            .begin(&ctx.workspace, &cancel)
            .map_err(|e| format!("{e:?}"))?;
        tracker.finish(&ctx.workspace);
        syncs.push(t.elapsed());
    }
    rows.push(row(
        "tracking by watching: the two syncs of a command",
        &syncs,
        "drain the event queue before and after (nothing changed)".to_string(),
    ));
    // bash `true` here and in an empty directory, alternately.
    let empty = std::env::temp_dir().join(format!("harnext-bench-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty)?;
    let _cleanup = crate::TempTree(Some(empty.clone()));
    let empty_ctx = context(&empty)?;
    let mut calls = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..runs.max(21) {
        calls.push(bash(runtime, &ctx, "true")?);
        bare.push(bash(runtime, &empty_ctx, "true")?);
    }
    let ratio = Stats::of(&calls).median.as_secs_f64() / Stats::of(&bare).median.as_secs_f64();
    rows.push(row(
        "tracking by watching: bash `true`",
        &calls,
        format!("{ratio:.2}× the same call in an empty directory"),
    ));
    let edited = "src/mod01/sub01/file000041.ts";
    let mut calls = Vec::new();
    for _ in 0..runs {
        calls.push(bash(runtime, &ctx, &format!("touch {edited}"))?);
    }
    if !ctx.workspace.changed_files().iter().any(|p| p == edited) {
        return Err(format!(
            "the watcher missed an edit: {:?}",
            ctx.workspace.changed_files()
        )
        .into());
    }
    rows.push(row(
        "tracking by watching: bash `touch` of one file",
        &calls,
        "recorded".to_string(),
    ));
    let mut calls = Vec::new();
    for i in 0..runs {
        calls.push(bash(
            runtime,
            &ctx,
            &format!(
                "mkdir -p bench-gen/d{i} && cd bench-gen/d{i} && touch $(seq -f 'f%03g' 1 100)"
            ),
        )?);
    }
    let created = ctx
        .workspace
        .changed_files()
        .iter()
        .filter(|p| p.starts_with("bench-gen/"))
        .count();
    let _ = std::fs::remove_dir_all(root.join("bench-gen"));
    if created != 100 * runs {
        return Err(format!("the watcher saw {created} new files, not {}", 100 * runs).into());
    }
    rows.push(row(
        "tracking by watching: bash making a directory of 100 files",
        &calls,
        "all recorded".to_string(),
    ));
    drop(ctx);

    // 5. Checkpoints (rewind): a bash step that appends to a file, with the checkpoints
    // a run keeps (the pre-image of what it changed) and without, in this tree and in a
    // 10-file workspace, alternately.
    rows.extend(checkpoints(runtime, root, runs)?);

    // The cost of bash itself.
    rows.push(row(
        "bash `true` in an empty directory",
        &bare,
        "the cost of bash itself".to_string(),
    ));
    Ok(rows)
}

/// Makes the tree a git repository (once) and times `git status`.
fn git_status(root: &Path, runs: usize) -> Res<Vec<Row>> {
    let git = |args: &[&str]| -> Res<()> {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.com",
            ])
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("git {args:?}: {status}").into())
        }
    };
    let mut rows = Vec::new();
    if !root.join(".git/objects").is_dir() {
        let t = Instant::now();
        git(&["init", "-q"])?;
        git(&["add", "-A"])?;
        git(&["commit", "-q", "-m", "bench"])?;
        eprintln!(
            "made the tree a git repository in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    for (name, config) in [
        ("tracking by git status", "core.untrackedCache=false"),
        (
            "tracking by git status (untracked cache)",
            "core.untrackedCache=true",
        ),
    ] {
        git(&["-c", config, "status", "--porcelain", "-uall"])?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            git(&["-c", config, "status", "--porcelain", "-uall"])?;
            times.push(t.elapsed());
        }
        rows.push(row(
            name,
            &times,
            "git status --porcelain -uall, once per scan".to_string(),
        ));
    }
    Ok(rows)
}

/// bash steps appending to a file with checkpoints on and off, in the big tree and in a
/// 10-file workspace (interleaved), and the ratio the per-step bar of issue 20 asks for.
pub(crate) fn checkpoints(runtime: &Runtime, root: &Path, runs: usize) -> Res<Vec<Row>> {
    use harnext_tools::checkpoint::CheckpointOptions;
    let small = std::env::temp_dir().join(format!("harnext-bench-small-{}", std::process::id()));
    std::fs::create_dir_all(small.join("app"))?;
    let _cleanup = crate::TempTree(Some(small.clone()));
    for i in 0..10 {
        std::fs::write(
            small.join(format!("app/f{i}.ts")),
            format!("export const x{i} = {i};\n").repeat(40),
        )?;
    }
    let with = |dir: &Path, on: bool| -> Res<ToolContext> {
        let w = Workspace::new(dir)?;
        let w = if on {
            w.with_checkpoints(CheckpointOptions::default())
        } else {
            w
        };
        Ok(ToolContext {
            workspace: Arc::new(w),
            cancel: CancellationToken::new(),
            call_id: "bench".to_string(),
            escalated: None,
            todos: None,
            images: None,
        })
    };
    // A source file of the tree (its name depends on the generator's extensions).
    let big_file = std::fs::read_dir(root.join("src/mod01/sub01"))?
        .filter_map(|e| e.ok())
        .map(|e| format!("src/mod01/sub01/{}", e.file_name().to_string_lossy()))
        .min()
        .ok_or("the tree has no src/mod01/sub01/ file")?;
    let big_file = big_file.as_str();
    let (small_on, small_off, big_on, big_off) = (
        with(&small, true)?,
        with(&small, false)?,
        with(root, true)?,
        with(root, false)?,
    );
    // The run read the file first (a big tree's baseline is the files the run touched).
    drop(
        big_on
            .workspace
            .open_read(&big_on.workspace.root().join(big_file))?,
    );
    let mut firsts = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    // Off first: the walk then finds the metadata cached for both, the contents only
    // the checkpoints read.
    firsts[2].push(bash(runtime, &small_off, "true")?);
    firsts[3].push(bash(runtime, &big_off, "true")?);
    firsts[0].push(bash(runtime, &small_on, "true")?);
    firsts[1].push(bash(runtime, &big_on, "true")?);
    let mut samples = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut kept = [0usize, 0usize];
    for _ in 0..runs.max(21) {
        for (i, (ctx, file)) in [
            (&small_on, "app/f3.ts"),
            (&small_off, "app/f3.ts"),
            (&big_on, big_file),
            (&big_off, big_file),
        ]
        .into_iter()
        .enumerate()
        {
            samples[i].push(bash(runtime, ctx, &format!("echo '// x' >> {file}"))?);
            let taken = ctx.workspace.take_checkpoint();
            if i % 2 == 0 {
                kept[i / 2] += taken
                    .iter()
                    .filter(|(_, p)| matches!(p, harnext_tools::checkpoint::PreImage::File { .. }))
                    .count();
            }
        }
    }
    let n = runs.max(21);
    if kept != [n, n] {
        return Err(format!("checkpoints missed pre-images: {kept:?} of {n} each").into());
    }
    let med = |v: &Vec<Duration>| Stats::of(v).median.as_secs_f64();
    Ok(vec![
        row(
            "checkpoints: first bash call, 10-file workspace",
            &firsts[0],
            format!(
                "reads the 10 files into the baseline; off: {:.2} ms",
                med(&firsts[2]) * 1e3
            ),
        ),
        row(
            "checkpoints: first bash call, this tree",
            &firsts[1],
            format!(
                "baseline: every tracked file up to 5,000, else the files the run read; off: {:.1} ms",
                med(&firsts[3]) * 1e3
            ),
        ),
        row(
            "checkpoints on: bash appending to a file, 10-file workspace",
            &samples[0],
            format!(
                "{:.2}× checkpoints off ({:.2} ms)",
                med(&samples[0]) / med(&samples[1]),
                med(&samples[1]) * 1e3
            ),
        ),
        row(
            "checkpoints on: bash appending to a file, this tree",
            &samples[2],
            format!(
                "{:.2}× checkpoints off ({:.2} ms); {:.2}× the 10-file workspace (bar: 1.5)",
                med(&samples[2]) / med(&samples[3]),
                med(&samples[3]) * 1e3,
                med(&samples[2]) / med(&samples[0])
            ),
        ),
    ])
}
