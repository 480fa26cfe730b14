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
exec node examples/demo.mjs "$@"
