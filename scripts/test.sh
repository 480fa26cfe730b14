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

if [ ! -x node_modules/.bin/napi ] || [ ! -d node_modules/typescript ] || [ ! -d node_modules/@types/node ]; then
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
node scripts/check-modules.mjs crates/harnext-core/src src

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --target "$host" -- -D warnings

say "cargo build harnext-mock (the mock provider the Node tests start)"
cargo build -p harnext-mock --bin harnext-mock --target "$host"

say "cargo test"
cargo test --workspace --target "$host"

say "node --test"
node --test __test__/
