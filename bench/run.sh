#!/usr/bin/env bash
# `npm run bench`: builds what the benchmark needs (release addon, release mock), then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/napi ] || npm ci --no-audit --no-fund
host=$(rustc -vV | sed -n 's/^host: //p')
echo "building the release addon and mock provider…" >&2
npm run --silent build >&2
cargo build --release -p harnext-mock --bin harnext-mock -p harnext-bench --bin harnext-bench --target "$host" >&2
node bench/run.mjs
bash bench/stores.sh
# The Python rows: harnext's Python face against a bare Python httpx + SSE loop.
if command -v python3 >/dev/null && [ "${BENCH_SKIP_PYTHON:-}" != "1" ]; then
  bash bench/python/run.sh
fi
