#!/usr/bin/env bash
# Session stores and the fleet (issue 19), run by `npm run bench` after the main figures:
# append latency per record for the file store, PostgreSQL and Redis, then the fleet's
# throughput with 1, 2 and 4 workers. Starts PostgreSQL and redis-server the way
# scripts/test.sh does (temporary, on 127.0.0.1, stopped at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n== %s\n' "$*" >&2; }
# shellcheck source=scripts/test-servers.sh
source scripts/test-servers.sh
host=$(rustc -vV | sed -n 's/^host: //p')
[ -d node_modules/bullmq ] || npm ci --no-audit --no-fund
cargo build --release -p harnext-core --example store_bench --target "$host" >&2
say "append latency per record (p50/p99 µs; ratio of p50 to the file store)"
HARNEXT_BENCH_POSTGRES_URL="$HARNEXT_TEST_POSTGRES_URL" HARNEXT_BENCH_REDIS_URL="$HARNEXT_TEST_REDIS_URL" \
  "target/$host/release/examples/store_bench" "$@"
say "fleet throughput on the mock model (tasks/s; ratio to 1 worker)"
REDIS_URL="$HARNEXT_TEST_REDIS_URL" POSTGRES_URL="$HARNEXT_TEST_POSTGRES_URL" node bench/fleet.mjs
