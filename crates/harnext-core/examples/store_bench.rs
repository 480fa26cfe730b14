//! Append latency per record of the session stores (a benchmark, not a test): the file
//! store (the baseline, in a temporary directory), and PostgreSQL and Redis when
//! `HARNEXT_BENCH_POSTGRES_URL` / `HARNEXT_BENCH_REDIS_URL` are set. Each store gets the
//! same records (a user message, an assistant turn with a tool call, its ~1 kB result,
//! a usage record, over and over), appended one at a time as a run does; prints p50 and
//! p99 in microseconds and the ratio of each p50 to the file store's, as JSON lines.
//! `bench/stores.sh` runs it. Options: `--records N` (default 2000).

use std::sync::Arc;
use std::time::Instant;

use harnext_core::protocol::ContentBlock;
use harnext_core::protocol::Message;
use harnext_core::protocol::Role;
use harnext_core::protocol::ToolStatus;
use harnext_core::protocol::Usage;
use harnext_core::store::new_session_id;
use harnext_core::store::open_store;
use harnext_core::store::SessionRecord;
use harnext_core::FileStore;
use harnext_core::SessionStore;

fn records(n: usize) -> Vec<SessionRecord> {
    (0..n)
        .map(|i| match i % 4 {
            0 => SessionRecord::Message {
                ts: 1,
                message: Message::user_text(format!(
                    "step {i}: look at the failing test and fix it"
                )),
            },
            1 => SessionRecord::Message {
                ts: 1,
                message: Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text {
                            text: "Reading the file.".into(),
                        },
                        ContentBlock::ToolUse {
                            id: format!("call_{i}"),
                            name: "read_file".into(),
                            input: serde_json::json!({ "path": "src/lib.rs" }),
                        },
                    ],
                },
            },
            2 => SessionRecord::Message {
                ts: 1,
                message: Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: format!("call_{}", i - 1),
                        content: "fn main() { println!(\"hello\"); }\n".repeat(30),
                        status: ToolStatus::Ok,
                    }],
                },
            },
            _ => SessionRecord::Usage {
                ts: 1,
                usage: Usage {
                    input_tokens: 1200,
                    output_tokens: 80,
                    ..Usage::default()
                },
            },
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn measure(store: &Arc<dyn SessionStore>, recs: &[SessionRecord]) -> Result<(f64, f64), String> {
    let id = new_session_id();
    let mut writer = store.open(&id, true).map_err(|e| e.to_string())?;
    // Warm up (connections, tables, prepared statements).
    for r in recs.iter().take(20) {
        writer.append(r).map_err(|e| e.to_string())?;
    }
    let mut us = Vec::with_capacity(recs.len());
    for r in recs {
        let t = Instant::now();
        writer.append(r).map_err(|e| e.to_string())?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    Ok((percentile(&us, 0.5), percentile(&us, 0.99)))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let recs = records(n);
    let dir = std::env::temp_dir().join(format!("harnext-store-bench-{}", std::process::id()));
    let mut stores: Vec<(&str, Arc<dyn SessionStore>)> =
        vec![("file", Arc::new(FileStore::new(&dir)))];
    if let Ok(url) = std::env::var("HARNEXT_BENCH_POSTGRES_URL") {
        stores.push(("postgres", open_store(&url).map_err(|e| e.to_string())?));
    }
    if let Ok(url) = std::env::var("HARNEXT_BENCH_REDIS_URL") {
        stores.push((
            "redis",
            open_store(&format!("{url}/?prefix=bench")).map_err(|e| e.to_string())?,
        ));
    }
    let mut base = None;
    for (name, store) in &stores {
        let (p50, p99) = measure(store, &recs)?;
        let b = *base.get_or_insert(p50);
        println!(
            "{}",
            serde_json::json!({ "store": name, "records": n, "p50_us": p50.round(), "p99_us": p99.round(), "p50_vs_file": (p50 / b * 100.0).round() / 100.0 })
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
