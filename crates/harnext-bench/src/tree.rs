//! The generated tree the benchmarks run on (deterministic: seeded).

use std::path::Path;

use crate::Res;

/// What the generated tree holds.
#[derive(Default)]
pub(crate) struct Tree {
    pub files: usize,
    pub searchable: usize,
    pub ignored: usize,
    pub binary: usize,
    pub hidden: usize,
    pub bytes: u64,
}

/// Generates the tree of `files` files in `root`, or reuses the one already there
/// (found by its marker file). With `empty`, the text files are empty (a tree of a
/// million entries then fits on a small disk; the walk costs the same).
pub(crate) fn ensure(root: &Path, files: usize, empty: bool) -> Res<Tree> {
    let started = std::time::Instant::now();
    let marker = root.join(".harnext-bench-tree");
    // The files written before the fill (`.gitignore`, the marker) can take the count up to
    // 2 past `files`.
    let wanted =
        |t: &Tree| (files..=files + 2).contains(&t.files) && (t.bytes < files as u64 * 64) == empty;
    let tree = match std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| Tree::parse(&s))
    {
        Some(tree) if wanted(&tree) => {
            eprintln!("reusing the tree in {}", root.display());
            tree
        }
        _ => {
            if marker.exists() {
                std::fs::remove_dir_all(root)?;
            }
            let tree = generate(root, files, empty)?;
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
    Ok(tree)
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

pub(crate) const WORDS: &[&str] = &[
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
fn generate(root: &Path, total: usize, empty: bool) -> Res<Tree> {
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
        let data = if empty { &[][..] } else { data };
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
        if empty {
            0
        } else if i % 20_000 == 19_999 {
            2 << 20
        } else if i % 100 == 99 {
            64 << 10
        } else {
            rng.usize(200..6_000)
        }
    };

    // Sources: 80%, in 40 × 25 directories per 100,000 files.
    let exts = ["rs", "ts", "py", "go"];
    let n_src = share(800);
    let mods = 40 * (total / 100_000).max(1);
    for i in 0..n_src {
        text.clear();
        let s = size(&mut rng, i);
        if s > 0 {
            fill_text(&mut rng, &mut text, s, i % 1_000 == 7);
        }
        let rel = format!(
            "src/mod{:02}/sub{:02}/file{i:06}.{}",
            i % mods,
            (i / mods) % 25,
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
