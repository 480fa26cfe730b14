#!/usr/bin/env bash
# The Python rows of the benchmark: builds the release wheel and the release mock, installs
# the wheel and httpx into a venv under target/ (kept apart from the test venv), then runs
# bench/python/run.py. BENCH_RUNS=3 makes it quicker; BENCH_PROFILE=debug uses debug builds
# (for checking the harness, not for figures).
set -euo pipefail
cd "$(dirname "$0")/../.."
host=$(rustc -vV | sed -n 's/^host: //p')
venv=target/pyenv-bench
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import maturin, httpx' 2>/dev/null || "$venv/bin/pip" install --quiet maturin httpx
if [ "${BENCH_PROFILE:-}" = "debug" ]; then
  (cd python && "../$venv/bin/maturin" build --quiet --target "$host" -i "../$venv/bin/python" --out ../target/wheels/bench) >&2
  cargo build -p harnext-mock --bin harnext-mock --target "$host" >&2
else
  rm -rf target/wheels/bench
  (cd python && "../$venv/bin/maturin" build --quiet --release --target "$host" -i "../$venv/bin/python" --out ../target/wheels/bench) >&2
  cargo build --release -p harnext-mock --bin harnext-mock --target "$host" >&2
fi
"$venv/bin/pip" install --quiet --force-reinstall --no-deps "$(ls -t target/wheels/bench/harnext-*.whl | head -1)"
BENCH_PYTHON="$PWD/$venv/bin/python" "$venv/bin/python" bench/python/run.py
