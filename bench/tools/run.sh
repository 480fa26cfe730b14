#!/usr/bin/env bash
# Benchmarks harnext's grep/glob tools against the rg CLI, and the change scan of the
# bash tool, on a generated 100,000-file tree (release build). Not a test.
#
#   bench/tools/run.sh                   # 100k files, 7 runs each
#   bench/tools/run.sh --files 20000 --runs 5
#   bench/tools/run.sh --dir /tmp/tree   # generate (or reuse) the tree there and keep it
#
# Installs ripgrep with apt-get when it is missing and apt-get is usable; otherwise the
# rg columns are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."

extra=()
if ! command -v rg >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "rg not found: installing ripgrep with apt-get" >&2
    (apt-get update -qq && apt-get install -y -qq ripgrep) >/dev/null 2>&1 || true
  fi
  if ! command -v rg >/dev/null 2>&1; then
    echo "rg not found and not installable here: the rg columns are skipped" >&2
    extra+=(--no-rg)
  fi
fi

target=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release -p harnext-bench --target "$target" >&2
exec "target/$target/release/harnext-bench" "${extra[@]}" "$@"
