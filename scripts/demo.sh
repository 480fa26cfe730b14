#!/usr/bin/env bash
# Runs the harnext demo from a fresh checkout: installs the dev tools if missing,
# builds the native addon (debug) if it is missing or older than the Rust sources,
# then runs examples/demo.mjs (arguments are passed on, e.g. a task for the real model).
#
#   scripts/demo.sh                          # offline, scripted model
#   ANTHROPIC_API_KEY=sk-... scripts/demo.sh # real model (HARNEXT_MODEL to pick one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'demo: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found (Node >= 20 is required)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node >= 20 is required (found $(node --version))"

# 1. Dev dependencies (the napi CLI).
if [ ! -x node_modules/.bin/napi ]; then
  say "installing dev dependencies (npm ci)…"
  npm ci --no-audit --no-fund >&2
fi

# 2. The native addon, named like napi-rs names it for this platform.
addon="harnext.$(node -p '
  const { platform, arch } = process;
  platform === "linux"
    ? `linux-${arch}-${process.report.getReport().header.glibcVersionRuntime ? "gnu" : "musl"}`
    : platform === "win32" ? `win32-${arch}-msvc` : `${platform}-${arch}`
').node"

stale=""
if [ ! -f "$addon" ]; then
  stale="$addon is missing"
else
  sources=()
  for s in Cargo.toml Cargo.lock build.rs src crates; do [ -e "$s" ] && sources+=("$s"); done
  newer="$(find "${sources[@]}" -newer "$addon" -type f -print -quit)"
  [ -z "$newer" ] || stale="$newer is newer than $addon"
fi

if [ -n "$stale" ]; then
  command -v cargo >/dev/null 2>&1 || die "$stale, and cargo (Rust) is needed to build it"
  say "building the addon (debug): $stale…"
  npm run --silent build:debug >&2
  [ -f "$addon" ] || die "the build did not produce $addon"
  touch "$addon" # the build may copy an unchanged artifact with an old mtime
else
  say "addon up to date ($addon)"
fi

# 3. The demo.
say "running examples/demo.mjs"
status=0
node examples/demo.mjs "$@" || status=$?

# 4. Its Python twin (python/examples/demo.py) on the same engine, through the PyO3 wheel
#    built into a virtual environment under target/ (when python3 is here).
if command -v python3 >/dev/null 2>&1 && [ -z "${HARNEXT_DEMO_NO_PYTHON:-}" ]; then
  pyenv=target/pyenv
  host=$(rustc -vV | sed -n 's/^host: //p')
  [ -x "$pyenv/bin/python" ] || { say "creating $pyenv…"; python3 -m venv "$pyenv"; }
  [ -x "$pyenv/bin/maturin" ] || { say "installing maturin into $pyenv…"; "$pyenv/bin/pip" install --quiet maturin >&2; }
  installed="$pyenv/.harnext-wheel-installed"
  if [ ! -f "$installed" ] || [ -n "$(find Cargo.toml Cargo.lock crates python/src python/harnext python/Cargo.toml -newer "$installed" -type f -print -quit)" ]; then
    say "building the Python wheel (debug)…"
    rm -rf target/wheels/demo
    (cd python && "../$pyenv/bin/maturin" build --quiet --target "$host" -i "../$pyenv/bin/python" --out ../target/wheels/demo) >&2
    "$pyenv/bin/pip" install --quiet --force-reinstall --no-deps target/wheels/demo/harnext-*.whl >&2
    touch "$installed"
  fi
  echo
  say "running python/examples/demo.py (the Python twin)"
  "$pyenv/bin/python" python/examples/demo.py "$@" || status=$?
fi
exit "$status"
