#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use super::*;

/// Changes as `(path, kind)` pairs, sorted by path.
type Seen = Vec<(String, ChangeKind)>;

/// A workspace tree with a tracker of its own. Each [`Fixture::run`] records into a
/// fresh `Workspace` on the same root, so that it returns the changes of that one
/// command.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    tracker: ChangeTracker,
}

impl Fixture {
    fn new(options: TrackerOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let root = base.join("ws");
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        for (path, text) in [
            (".gitignore", "node_modules/\n*.log\nbuild/\n"),
            (".git/HEAD", "ref: refs/heads/main\n"),
            (".git/info/exclude", "\n"),
            ("src/a.rs", "fn a() {}\n"),
            ("src/b.rs", "fn b() {}\n"),
            ("src/c.rs", "fn c() {}\n"),
            ("src/deep/x/y.rs", "y\n"),
            ("docs/readme.md", "# docs\n"),
            ("node_modules/pkg/index.js", "module.exports = 1;\n"),
            ("keep.txt", "keep\n"),
            (".env", "K=V\n"),
            ("src/linked.rs", "linked\n"),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        // A file with a second link outside the workspace, made before any tracking.
        std::fs::hard_link(root.join("src/linked.rs"), outside.join("prelinked")).unwrap();
        let tracker = ChangeTracker::default();
        tracker.set_options(options);
        Fixture {
            _dir: dir,
            root,
            outside,
            tracker,
        }
    }

    /// Runs `command` with `bash -c` in the root between `begin` and `finish`.
    fn run(&self, command: &str) -> Seen {
        let ws = Workspace::new(&self.root).unwrap();
        assert!(self.tracker.begin(&ws, &CancellationToken::new()).unwrap());
        let status = Command::new("bash")
            .arg("-c")
            .arg(command)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{command}: {status}");
        self.tracker.finish(&ws);
        ws.changes()
    }
}

fn c(path: &str) -> (String, ChangeKind) {
    (path.to_string(), ChangeKind::Created)
}
fn m(path: &str) -> (String, ChangeKind) {
    (path.to_string(), ChangeKind::Modified)
}
fn d(path: &str) -> (String, ChangeKind) {
    (path.to_string(), ChangeKind::Deleted)
}

/// What every way of tracking must report, command by command.
fn scenario(f: &Fixture) {
    let run = |command: &str, expected: Seen| {
        assert_eq!(f.run(command), expected, "after `{command}`");
    };
    run("true", vec![]);
    run("echo 1 >> src/a.rs", vec![m("src/a.rs")]);
    run("touch src/new.rs", vec![c("src/new.rs")]);
    run("rm src/b.rs", vec![d("src/b.rs")]);
    run("mv src/c.rs src/c2.rs", vec![d("src/c.rs"), c("src/c2.rs")]);
    run("sed -i 's/a/A/' src/a.rs", vec![m("src/a.rs")]);
    run("touch .env", vec![m(".env")]);
    // A directory created by the command, then changed by the next one.
    run(
        "mkdir -p gen/one/two && echo hi > gen/one/two/out.txt && echo > gen/top.txt",
        vec![c("gen/one/two/out.txt"), c("gen/top.txt")],
    );
    run(
        "echo more >> gen/one/two/out.txt",
        vec![m("gen/one/two/out.txt")],
    );
    // Directories moved within the tree, out of it and back in.
    run(
        "mv gen moved",
        vec![
            d("gen/one/two/out.txt"),
            d("gen/top.txt"),
            c("moved/one/two/out.txt"),
            c("moved/top.txt"),
        ],
    );
    run(
        "echo x >> moved/one/two/out.txt",
        vec![m("moved/one/two/out.txt")],
    );
    run(
        &format!("mv moved {}/away", f.outside.display()),
        vec![d("moved/one/two/out.txt"), d("moved/top.txt")],
    );
    run(
        &format!("mv {}/away back", f.outside.display()),
        vec![c("back/one/two/out.txt"), c("back/top.txt")],
    );
    run("echo y >> back/top.txt", vec![m("back/top.txt")]);
    // A directory replaced by a file, and back.
    run(
        "rm -rf back && echo file > back",
        vec![c("back"), d("back/one/two/out.txt"), d("back/top.txt")],
    );
    run(
        "rm back && mkdir back && echo > back/inner",
        vec![d("back"), c("back/inner")],
    );
    // Ignored paths and .git.
    run(
        "echo > node_modules/pkg/new.js; echo > run.log; mkdir -p build/x && echo > build/x/out; \
         mkdir -p .git/objects && echo > .git/objects/o1",
        vec![],
    );
    // A file that becomes ignored is not deleted; once ignored, it is not tracked.
    run("echo 'keep.txt' >> .gitignore", vec![m(".gitignore")]);
    run("echo changed >> keep.txt", vec![]);
    run(
        "ln -s src/a.rs link && ln -s src link2",
        vec![c("link"), c("link2")],
    );
    run("chmod +x src/a.rs", vec![m("src/a.rs")]);
    run(
        "cd src && for i in 1 2 3; do echo $i > t$i.rs; done; rm t2.rs",
        vec![c("src/t1.rs"), c("src/t3.rs")],
    );
    // A directory replaced by another one under the same name.
    run(
        "mkdir -p src/deep2 && echo > src/deep2/n.rs && rm -rf src/deep && mv src/deep2 src/deep",
        vec![c("src/deep/n.rs"), d("src/deep/x/y.rs")],
    );
    // Changes between commands are not the next command's, but are seen by it.
    std::fs::create_dir_all(f.root.join("ext/dir")).unwrap();
    std::fs::write(f.root.join("ext/dir/f.txt"), "f").unwrap();
    std::fs::write(f.root.join("src/a.rs"), "edited by a person").unwrap();
    std::fs::remove_file(f.root.join("docs/readme.md")).unwrap();
    run("true", vec![]);
    std::fs::write(f.root.join("ext/dir/g.txt"), "g").unwrap();
    run(
        "echo >> ext/dir/f.txt && rm ext/dir/g.txt",
        vec![m("ext/dir/f.txt"), d("ext/dir/g.txt")],
    );
    // Writes through hard links: from outside the workspace, and from inside (a new
    // link changes the ctime of the file it links to).
    run(
        &format!("echo more >> {}/prelinked", f.outside.display()),
        vec![m("src/linked.rs")],
    );
    run(
        "ln src/new.rs src/new_link.rs",
        vec![m("src/new.rs"), c("src/new_link.rs")],
    );
    run(
        "echo via link >> src/new_link.rs",
        vec![m("src/new.rs"), m("src/new_link.rs")],
    );
    // Rules that change: what was ignored is now seen (as today's scans see it).
    run(
        "printf 'node_modules/\\n' > .gitignore",
        vec![
            m(".gitignore"),
            c("build/x/out"),
            c("keep.txt"),
            c("run.log"),
        ],
    );
    run("echo > build/x/out2", vec![c("build/x/out2")]);
}

fn watching() -> TrackerOptions {
    TrackerOptions {
        watch_threshold: 0,
        ..TrackerOptions::default()
    }
}

#[test]
fn watching_sees_every_change_of_every_command() {
    let f = Fixture::new(watching());
    f.run("true");
    assert_eq!(f.tracker.mode(), TrackingMode::Watching);
    scenario(&f);
    assert_eq!(
        f.tracker.mode(),
        TrackingMode::Watching,
        "{:?}",
        f.tracker.fallback()
    );
    assert_eq!(f.tracker.overflows(), 0);
}

#[test]
fn scanning_sees_the_same() {
    let f = Fixture::new(TrackerOptions {
        never_watch: true,
        ..watching()
    });
    scenario(&f);
    assert_eq!(f.tracker.mode(), TrackingMode::Scanning);
    assert!(matches!(
        f.tracker.fallback(),
        Some(Fallback::NotAvailable(_))
    ));
}

#[test]
fn a_small_tree_is_scanned() {
    let f = Fixture::new(TrackerOptions::default());
    scenario(&f);
    assert_eq!(f.tracker.fallback(), Some(Fallback::SmallTree));
}

#[test]
fn too_few_watches_at_the_start_fall_back_to_scanning() {
    let f = Fixture::new(TrackerOptions {
        max_watches: Some(2),
        ..watching()
    });
    scenario(&f);
    assert_eq!(f.tracker.mode(), TrackingMode::Scanning);
    assert_eq!(f.tracker.fallback(), Some(Fallback::WatchLimit));
    assert_eq!(f.tracker.watched_dirs(), 0);
}

#[test]
fn the_watch_limit_reached_by_a_command_falls_back_without_losing_its_changes() {
    // The tree has 10 directories (the root, src, src/deep, src/deep/x, docs, .git/...
    // is not watched); one more directory fits, a command makes three.
    let probe = Fixture::new(watching());
    probe.run("true");
    let dirs = probe.tracker.watched_dirs();
    assert!(dirs >= 4, "{dirs}");
    let f = Fixture::new(TrackerOptions {
        max_watches: Some(dirs + 1),
        ..watching()
    });
    f.run("true");
    assert_eq!(f.tracker.mode(), TrackingMode::Watching);
    scenario(&f);
    assert_eq!(f.tracker.mode(), TrackingMode::Scanning);
    assert_eq!(f.tracker.fallback(), Some(Fallback::WatchLimit));
}

#[test]
fn an_unreported_file_system_is_scanned() {
    let f = Fixture::new(TrackerOptions {
        assume_unreported_fs: true,
        ..watching()
    });
    scenario(&f);
    assert_eq!(f.tracker.mode(), TrackingMode::Scanning);
    assert!(matches!(
        f.tracker.fallback(),
        Some(Fallback::UnreportedFs(_))
    ));
}

#[test]
fn queue_overflows_are_recovered_by_one_walk() {
    let f = Fixture::new(TrackerOptions {
        queue_limit: Some(2),
        ..watching()
    });
    scenario(&f);
    assert_eq!(f.tracker.mode(), TrackingMode::Watching);
    assert!(f.tracker.overflows() >= 10, "{}", f.tracker.overflows());
}

#[test]
fn a_real_kernel_queue_overflow_is_recovered() {
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384);
    // Each new file raises at least two events (create, close); keep the test quick on
    // machines that allow very long queues.
    let files = (limit / 2 + 100).min(40_000);
    let f = Fixture::new(watching());
    f.run("mkdir many");
    let seen = f.run(&format!("cd many && touch $(seq -f 'f%05g' 1 {files})"));
    assert_eq!(seen.len(), files);
    assert!(seen
        .iter()
        .all(|(p, k)| p.starts_with("many/f") && *k == ChangeKind::Created));
    if limit / 2 + 100 <= 40_000 {
        assert_eq!(f.tracker.overflows(), 1);
    }
    assert_eq!(f.tracker.mode(), TrackingMode::Watching);
    assert_eq!(f.run("echo >> many/f00007"), vec![m("many/f00007")]);
}

#[test]
fn a_moved_root_falls_back_to_scanning() {
    let f = Fixture::new(watching());
    f.run("true");
    let seen = f.run("cd .. && mv ws ws2 && mkdir ws");
    assert_eq!(f.tracker.mode(), TrackingMode::Scanning);
    assert_eq!(f.tracker.fallback(), Some(Fallback::RootGone));
    assert!(seen.contains(&d("src/a.rs")), "{seen:?}");
    assert_eq!(f.run("echo > new.txt"), vec![c("new.txt")]);
}

#[test]
fn overlapping_commands_record_each_others_changes_once() {
    let f = Fixture::new(watching());
    let ws = Workspace::new(&f.root).unwrap();
    let cancel = CancellationToken::new();
    assert!(f.tracker.begin(&ws, &cancel).unwrap());
    std::fs::write(f.root.join("one.txt"), "1").unwrap();
    // The second command begins while the first runs: what changed so far is the
    // first command's, and is recorded.
    assert!(f.tracker.begin(&ws, &cancel).unwrap());
    std::fs::write(f.root.join("two.txt"), "2").unwrap();
    f.tracker.finish(&ws);
    std::fs::write(f.root.join("three.txt"), "3").unwrap();
    f.tracker.finish(&ws);
    // Between commands: not recorded.
    std::fs::write(f.root.join("four.txt"), "4").unwrap();
    assert!(f.tracker.begin(&ws, &cancel).unwrap());
    f.tracker.finish(&ws);
    assert_eq!(
        ws.changes(),
        vec![c("one.txt"), c("three.txt"), c("two.txt")]
    );
}

#[test]
fn an_abandoned_command_does_not_make_later_changes_recorded() {
    let f = Fixture::new(watching());
    let ws = Workspace::new(&f.root).unwrap();
    let cancel = CancellationToken::new();
    assert!(f.tracker.begin(&ws, &cancel).unwrap());
    f.tracker.abandon();
    std::fs::write(f.root.join("between.txt"), "x").unwrap();
    assert!(f.tracker.begin(&ws, &cancel).unwrap());
    f.tracker.finish(&ws);
    assert!(ws.changes().is_empty(), "{:?}", ws.changes());
}

#[test]
fn a_cancelled_first_walk_leaves_the_tracker_unstarted() {
    let f = Fixture::new(watching());
    let ws = Workspace::new(&f.root).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    assert_eq!(f.tracker.begin(&ws, &cancel), Err(ScanError::Cancelled));
    assert_eq!(f.tracker.mode(), TrackingMode::NotStarted);
    assert_eq!(f.run("echo > x.txt"), vec![c("x.txt")]);
}

#[test]
fn small_and_large_trees_index_the_same_way_on_either_walk() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..(SEQUENTIAL_LIMIT + 500) {
        let sub = dir.path().join(format!("d{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.txt")), "x").unwrap();
    }
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let cancel = CancellationToken::new();
    let large = Index::scan(&root, &cancel, usize::MAX).unwrap().unwrap();
    assert_eq!(large.len(), SEQUENTIAL_LIMIT + 500);
    assert_eq!(large.dirs(), 8);
    // Limits are kept on either walk.
    assert!(Index::scan(&root, &cancel, 100).unwrap().is_none());
    assert!(Index::scan(&root, &cancel, SEQUENTIAL_LIMIT + 100)
        .unwrap()
        .is_none());
    // The parallel walk finds what the sequential one does.
    let mut seq = Vec::new();
    for entry in walk::walker(&root, true).build() {
        seq.extend(item(&entry.unwrap(), &root));
    }
    let (seq, _) = Index::of(seq);
    assert!(seq.diff(&large, &root).is_empty());
    assert_eq!(seq.dirs, large.dirs);
}

#[test]
fn index_diff_sees_created_modified_deleted_and_replaced_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(root.join(format!("src/{name}.rs")), name).unwrap();
    }
    std::fs::write(root.join("same.txt"), "same").unwrap();
    let cancel = CancellationToken::new();
    let before = Index::scan(&root, &cancel, usize::MAX).unwrap().unwrap();
    assert_eq!(before.len(), 4);
    std::fs::write(root.join("src/a.rs"), "a2").unwrap();
    std::fs::remove_file(root.join("src/b.rs")).unwrap();
    // Same size, replaced by a rename: a new inode.
    std::fs::write(root.join("src/c.tmp"), "C").unwrap();
    std::fs::rename(root.join("src/c.tmp"), root.join("src/c.rs")).unwrap();
    std::fs::create_dir_all(root.join("new/deep")).unwrap();
    std::fs::write(root.join("new/deep/d.rs"), "d").unwrap();
    let after = Index::scan(&root, &cancel, usize::MAX).unwrap().unwrap();
    let seen: Vec<(String, ChangeKind)> = before
        .diff(&after, &root)
        .into_iter()
        .map(|(p, k)| (p.to_string_lossy().into_owned(), k))
        .collect();
    assert_eq!(
        seen,
        vec![
            c("new/deep/d.rs"),
            m("src/a.rs"),
            d("src/b.rs"),
            m("src/c.rs"),
        ]
    );
}

#[test]
fn subtrees_are_taken_by_prefix_of_whole_components() {
    let mut index = Index::default();
    for dir in ["", "a", "a-b", "a.c", "a/x", "a/x/y", "a0", "ab"] {
        index
            .dirs
            .insert(dir.as_bytes().into(), vec![(b"f".to_vec().into(), 1)]);
    }
    index.files = 8;
    assert_eq!(index.subtree_files(b"a"), 3);
    assert_eq!(index.subtree_files(b""), 8);
    let taken = index.take_subtree(b"a");
    let keys: Vec<&[u8]> = taken.keys().map(|k| &**k).collect();
    assert_eq!(keys, vec![&b"a"[..], b"a/x", b"a/x/y"]);
    assert_eq!(index.len(), 5);
    let keys: Vec<&[u8]> = index.dirs.keys().map(|k| &**k).collect();
    assert_eq!(keys, vec![&b""[..], b"a-b", b"a.c", b"a0", b"ab"]);
}

/// Every way of following the tree: watching, scanning, and watching with a queue so
/// short that every sync is an overflow.
fn every_mode() -> Vec<TrackerOptions> {
    vec![
        watching(),
        TrackerOptions {
            never_watch: true,
            ..watching()
        },
        TrackerOptions {
            queue_limit: Some(1),
            ..watching()
        },
    ]
}

#[test]
fn a_late_write_by_a_process_that_escaped_its_command_is_not_the_next_commands() {
    for options in every_mode() {
        let f = Fixture::new(options.clone());
        f.run("true");
        // `setsid` leaves the command's process group: the bash tool's kill of the group
        // does not reach it, and it writes after the command has ended.
        let marker = f.root.join("late.txt");
        assert_eq!(
            f.run(
                "setsid bash -c 'sleep 0.3; echo >> src/a.rs; echo late > late.txt' \
                 >/dev/null 2>&1 < /dev/null &"
            ),
            vec![],
            "{options:?}"
        );
        let started = std::time::Instant::now();
        while !marker.exists() {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        // Written between commands: seen by the next command, not attributed to it...
        assert_eq!(f.run("echo > next.txt"), vec![c("next.txt")], "{options:?}");
        // ...but known from then on: a later write to it is a modification.
        assert_eq!(
            f.run("echo again >> late.txt && echo >> src/a.rs"),
            vec![m("late.txt"), m("src/a.rs")],
            "{options:?}"
        );
    }
}

#[test]
fn a_directory_swapped_for_a_link_to_outside_reports_nothing_written_through_it() {
    for options in every_mode() {
        let f = Fixture::new(options.clone());
        f.run("true");
        let out = f.outside.display().to_string();
        // The tracked file is gone from the tree, though the same path now leads to it
        // (outside the workspace).
        assert_eq!(
            f.run(&format!(
                "mv src/deep {out}/deep && ln -s {out}/deep src/deep"
            )),
            vec![c("src/deep"), d("src/deep/x/y.rs")],
            "{options:?}"
        );
        // Through the link, and straight outside: nothing in the workspace changed.
        assert_eq!(
            f.run(&format!(
                "echo new > src/deep/new.rs && echo >> src/deep/x/y.rs && mkdir -p src/deep/x/z \
                 && echo > src/deep/x/z/w.rs && echo > {out}/o.txt && echo > ../sibling.txt"
            )),
            vec![],
            "{options:?}"
        );
        // The link swapped back for a directory: watched (or scanned) again.
        assert_eq!(
            f.run("rm src/deep && mkdir src/deep && echo > src/deep/z.rs"),
            vec![d("src/deep"), c("src/deep/z.rs")],
            "{options:?}"
        );
        assert_eq!(
            f.run(&format!(
                "echo >> src/deep/z.rs && echo >> {out}/deep/new.rs"
            )),
            vec![m("src/deep/z.rs")],
            "{options:?}"
        );
        // The moved directory's old watches are gone with it.
        assert_eq!(
            f.run(&format!("echo >> {out}/deep/x/y.rs && rm -r {out}/deep")),
            vec![],
            "{options:?}"
        );
    }
}

#[test]
fn a_flood_of_events_is_read_only_up_to_its_limit_and_nothing_is_lost() {
    let limit = 100;
    let f = Fixture::new(TrackerOptions {
        queue_limit: Some(limit),
        ..watching()
    });
    f.run("true");
    // Three events or more a file (create, attributes, close).
    let seen = f.run("cd src && touch $(seq -f 'f%04g' 1 3000)");
    assert_eq!(seen.len(), 3000);
    assert!(seen
        .iter()
        .all(|(p, k)| p.starts_with("src/f") && *k == ChangeKind::Created));
    // One batch of the kernel's (a 4 KiB buffer) can pass the bound.
    let read = f.tracker.events_last_read();
    assert!(read > limit && read <= 4 * limit + 4096 / 16, "{read}");
    assert!(f.tracker.overflows() >= 1);
    // What is left in the queue is drained by later syncs and is nobody's change.
    for _ in 0..100 {
        assert_eq!(f.run("true"), vec![]);
        if f.tracker.events_last_read() <= limit {
            break;
        }
    }
    assert!(f.tracker.events_last_read() <= limit);
    assert_eq!(f.tracker.mode(), TrackingMode::Watching);
    assert_eq!(f.run("echo >> src/f0007"), vec![m("src/f0007")]);
}

/// Set in the child process of [`the_kernels_watch_limit_falls_back_to_a_correct_scan`].
const IN_USER_NAMESPACE: &str = "HARNEXT_TEST_WATCH_LIMIT_CHILD";

/// The real limit, not the tracker's own budget: in a user namespace of its own (where
/// `/proc/sys/user/max_inotify_watches` is this namespace's to set), the test binary runs
/// this test again with room for the tree's watches and two more, so that
/// `inotify_add_watch` fails with `ENOSPC` in the middle of a command.
#[test]
fn the_kernels_watch_limit_falls_back_to_a_correct_scan() {
    if std::env::var_os(IN_USER_NAMESPACE).is_some() {
        let probe = Fixture::new(watching());
        probe.run("true");
        // The tree's directories and `.git/info`.
        let needed = probe.tracker.watched_dirs() + 1;
        drop(probe);
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::write(
            "/proc/sys/user/max_inotify_watches",
            format!("{}\n", needed + 2),
        )
        .unwrap();
        let f = Fixture::new(watching());
        f.run("true");
        assert_eq!(
            f.tracker.mode(),
            TrackingMode::Watching,
            "{:?}",
            f.tracker.fallback()
        );
        // `scenario` makes three directories in one command.
        scenario(&f);
        assert_eq!(f.tracker.mode(), TrackingMode::Scanning);
        assert_eq!(f.tracker.fallback(), Some(Fallback::WatchLimit));
        return;
    }
    let Some(unshare) = ["/usr/bin/unshare", "/bin/unshare"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipped: no unshare(1) on this machine");
        return;
    };
    let probe = Command::new(unshare)
        .args(["-U", "-r", "true"])
        .stdin(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: user namespaces are not available here");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(unshare)
        .args(["-U", "-r"])
        .arg(exe)
        .args([
            "--exact",
            "changes::tests::the_kernels_watch_limit_falls_back_to_a_correct_scan",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(IN_USER_NAMESPACE, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
