#!/usr/bin/env bash
# Runs every test of harnext on a fresh machine: installs what is missing, builds the
# debug addon and the mock provider, then runs the Rust checks and tests and the Node
# tests (which include `tsc --strict` over the shipped index.d.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v node >/dev/null || { echo "Node.js >= 20 is required" >&2; exit 1; }
host=$(rustc -vV | sed -n 's/^host: //p')

if [ ! -x node_modules/.bin/napi ] || [ ! -d node_modules/typescript ] || [ ! -d node_modules/@types/node ] || [ ! -d node_modules/bullmq ] \
   || [ ! -d node_modules/@opentelemetry/sdk-trace-base ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

say "napi build (debug) -> harnext.*.node, native.js, index.d.ts"
npm run --silent build:debug

if [ "${CI:-}" = "true" ]; then
  say "the committed index.d.ts and index.js are the generated ones"
  git diff --exit-code -- index.d.ts native.js
fi

say "no module imports another that imports it back (harnext-core, the binding)"
node scripts/check-modules.mjs crates/harnext-core/src src python/src

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --target "$host" -- -D warnings

say "cargo build harnext-mock (the mock provider the Node tests start)"
cargo build -p harnext-mock --bin harnext-mock --target "$host"

# Session stores (issue 19): PostgreSQL and redis-server for the store tests, stopped on exit.
# shellcheck source=scripts/test-servers.sh
source scripts/test-servers.sh

# The tests' temporary files (workspaces, session folders, sockets) go to one folder of this
# run, removed at the end with the servers, so runs leave nothing in /tmp.
hx_tests_tmp=$(mktemp -d "${TMPDIR:-/tmp}/harnext-tests.XXXXXX")
trap 'rm -rf "$hx_tests_tmp"; hx_stop_servers' EXIT
export TMPDIR="$hx_tests_tmp"

say "cargo test"
cargo test --workspace --target "$host"

say "node --test"
node --test __test__/

# ---- Python: the PyO3 binding (python/, crate harnext-python) and the harnext package ----
# A virtual environment under target/ holds the build and test tools; the debug abi3 wheel
# is built by maturin into the shared target folder, installed there, and tested with
# pytest (against the same mock provider, and the Node addon built above for the
# session-crossing tests) and mypy --strict over the stubs and the examples.
pyenv=target/pyenv
command -v python3 >/dev/null || { echo "Python >= 3.9 is required" >&2; exit 1; }
if [ ! -x "$pyenv/bin/python" ]; then
  say "python3 -m venv $pyenv"
  python3 -m venv "$pyenv"
fi
if ! "$pyenv/bin/python" -c 'import maturin, pytest, mypy, pydantic, httpx' 2>/dev/null \
   || [ ! -x "$pyenv/bin/maturin" ]; then
  say "pip install maturin pytest mypy pydantic httpx (into $pyenv)"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check maturin pytest mypy pydantic httpx
fi
# The tracing tests: the OpenTelemetry SDK (and with it opentelemetry-api).
if ! "$pyenv/bin/python" -c 'import opentelemetry.sdk.trace' 2>/dev/null; then
  say "pip install opentelemetry-sdk (into $pyenv)"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check opentelemetry-sdk
fi

say "maturin build (debug, abi3) -> target/wheels/debug; pip install the wheel"
rm -rf target/wheels/debug
(cd python && "../$pyenv/bin/maturin" build --quiet --target "$host" -i "../$pyenv/bin/python" --out ../target/wheels/debug)
wheel=$(ls target/wheels/debug/harnext-*.whl)
"$pyenv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"

say "pytest python/tests"
HARNEXT_REQUIRE_NODE=1 HARNEXT_WHEEL="$PWD/$wheel" "$pyenv/bin/pytest" -q -p no:cacheprovider python/tests

say "mypy --strict (the stubs, through python/tests/typing_check.py and the Python examples)"
(cd python/tests && "../../$pyenv/bin/mypy" --strict --no-incremental typing_check.py ../examples)
