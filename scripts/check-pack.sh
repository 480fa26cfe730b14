#!/usr/bin/env bash
# Checks that harnext installs and runs like a published npm package:
#
#   1. release build of the addon (`npm run build`, into a scratch directory: the working
#      tree's debug addon, native.js and index.d.ts are left alone, and must match it);
#   2. the .node copied into npm/<platform>/ (as `napi artifacts` does), then `npm pack` of
#      the main package and of that platform package;
#   3. `npm install` of the two tarballs into an empty directory, with cargo and rustc off
#      the PATH (only the npm registry is reached: the other platforms' optional packages
#      are looked up there and skipped);
#   4. there: an ESM and a CJS script run an agent on the scripted model, the native
#      loader must have loaded the addon from the platform package, `tsc --strict`
#      checks a .mts and a .cts consumer, and `npx harnext` answers --help and does a
#      scripted run.
#
#   scripts/check-pack.sh                 # builds (a few minutes), packs, installs, runs
#   ADDON=path/to/harnext.<platform>.node scripts/check-pack.sh
#                                         # skips the build and packs that addon instead
#   KEEP=1 scripts/check-pack.sh          # keeps the scratch directory for a look
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'check-pack: error: %s\n' "$*" >&2; exit 1; }
size() { stat -c %s "$1" 2>/dev/null || stat -f %z "$1"; }
human() { awk -v b="$1" 'BEGIN { printf (b >= 1048576 ? "%.1f MiB" : "%.0f KiB"), (b >= 1048576 ? b / 1048576 : b / 1024) }'; }

command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
[ -x node_modules/.bin/napi ] || die "run npm ci first"

name=$(node -p 'require("./package.json").name')
version=$(node -p 'require("./package.json").version')
binary=$(node -p 'require("./package.json").napi.binaryName')
# The platform suffix napi-rs uses for this machine (linux-x64-gnu, darwin-arm64, ...).
abi=$(node -p '
  const { platform, arch } = process;
  platform === "linux"
    ? `linux-${arch}-${process.report.getReport().header.glibcVersionRuntime ? "gnu" : "musl"}`
    : platform === "win32" ? `win32-${arch}-msvc` : `${platform}-${arch}`')
addon="$binary.$abi.node"
[ -f "npm/$abi/package.json" ] || die "no npm/$abi package for this platform"

work=$(mktemp -d "${TMPDIR:-/tmp}/harnext-check-pack.XXXXXX")
cleanup() {
  rm -f "$root/npm/$abi/$addon"
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# 1. The release addon.
if [ -n "${ADDON:-}" ]; then
  say "using the addon $ADDON (no build)"
  [ -f "$ADDON" ] || die "$ADDON does not exist"
  mkdir -p "$work/build"
  cp "$ADDON" "$work/build/$addon"
else
  say "release build: npm run build -- --output-dir <scratch>"
  npm run --silent build -- --output-dir "$work/build" >&2
  [ -f "$work/build/$addon" ] || die "the build did not produce $addon"
  for f in native.js index.d.ts; do
    cmp -s "$work/build/$f" "$f" ||
      die "$f is not what the build generates from the current sources: run npm run build:debug"
  done
fi
addon_size=$(size "$work/build/$addon")
if command -v file >/dev/null; then file -b "$work/build/$addon" | sed 's/^/   /' >&2; fi
echo "   $addon: $addon_size bytes ($(human "$addon_size"))" >&2

# 2. Pack the main package and the platform package.
say "npm pack: $name and $name-$abi"
cp "$work/build/$addon" "npm/$abi/$addon"
mkdir -p "$work/packs"
npm pack --silent --ignore-scripts --pack-destination "$work/packs" >/dev/null
(cd "npm/$abi" && npm pack --silent --ignore-scripts --pack-destination "$work/packs" >/dev/null)
main_tgz="$work/packs/$name-$version.tgz"
platform_tgz="$work/packs/$name-$abi-$version.tgz"
[ -f "$main_tgz" ] && [ -f "$platform_tgz" ] || die "npm pack did not produce both tarballs"
if tar -tzf "$main_tgz" | grep -q '\.node$'; then die "the main package contains a .node file"; fi
tar -tzf "$platform_tgz" | grep -qx "package/$addon" || die "$name-$abi does not contain $addon"
echo "   $(basename "$main_tgz"): $(human "$(size "$main_tgz")") ($(tar -tzf "$main_tgz" | sed 's|^package/||' | sort | tr '\n' ' '))" >&2
echo "   $(basename "$platform_tgz"): $(human "$(size "$platform_tgz")")" >&2

# 3. Install into an empty project, with no Rust toolchain on the PATH.
clean_path=""
IFS=: read -ra path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
  { [ -x "$d/cargo" ] || [ -x "$d/rustc" ]; } && continue
  clean_path="${clean_path:+$clean_path:}$d"
done
run() { env -u CARGO -u RUSTC -u CARGO_HOME -u RUSTUP_HOME -u ANTHROPIC_API_KEY -u OPENAI_API_KEY -u HARNEXT_MODEL \
  -u NODE_TEST_CONTEXT PATH="$clean_path" HARNEXT_SESSION_DIR="$work/sessions" "$@"; }
run sh -c 'command -v cargo || command -v rustc' >/dev/null && die "cargo or rustc is still on the stripped PATH"
run sh -c 'command -v node' >/dev/null || die "node is not on the stripped PATH"

app="$work/app"
mkdir -p "$app/ws"
printf '{ "name": "check-pack-app", "version": "1.0.0", "private": true }\n' >"$app/package.json"
say "npm install (no cargo/rustc on PATH) in $app"
(cd "$app" && run npm install --no-audit --no-fund --loglevel=error "$main_tgz" "$platform_tgz" >&2)
[ -d "$app/node_modules/$name-$abi" ] || die "$name-$abi was not installed"
if find "$app/node_modules/$name" -name '*.node' | grep -q .; then die "node_modules/$name has a .node file"; fi

# 4. Use it.
cat >"$app/esm.mjs" <<'EOF'
import assert from 'node:assert/strict';
import { Agent, tool, jsonSchema, builtinTools } from 'harnext';

const shout = tool({
  name: 'shout',
  description: 'Upper-cases its text',
  inputSchema: jsonSchema({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] }),
  readOnly: true,
  execute: ({ text }) => text.toUpperCase(),
});
const agent = new Agent({
  model: 'scripted',
  cwd: new URL('./ws/', import.meta.url).pathname,
  tools: [...builtinTools, shout],
  script: [
    { text: 'Working.', toolCalls: [{ name: 'shout', args: { text: 'esm' } }, { name: 'bash', args: { command: 'echo from-bash > out.txt' } }] },
    { text: 'Done from ESM.' },
  ],
});
const seen = [];
for await (const e of agent.stream('go')) seen.push(e.type);
assert.equal(seen[0], 'run_start');
assert.equal(seen.at(-1), 'run_end');
const result = await agent.run('again', {}).catch((e) => e); // the script ran out: a failed run, not a crash
assert.equal(result.success, false);
const second = new Agent({ model: 'scripted', script: [{ text: '{"n": 3}' }] });
const structured = await second.run('count', { outputSchema: jsonSchema({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }) });
assert.deepEqual(structured.output, { n: 3 });
console.log('esm: ok (stream, custom tool, bash, structured output)');
EOF
cat >"$app/cjs.cjs" <<'EOF'
const assert = require('node:assert/strict');
const path = require('node:path');
const harnext = require('harnext');
(async () => {
  const esm = await import('harnext');
  assert.equal(esm.Agent, harnext.Agent);
  const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
  assert.equal(loaded.length, 1, String(loaded));
  assert.match(loaded[0], /node_modules[\\/]harnext-[a-z0-9-]+[\\/]harnext\.[a-z0-9-]+\.node$/);
  const agent = new harnext.Agent({ model: 'scripted', cwd: path.join(__dirname, 'ws'), script: [{ text: 'Done from CJS.' }] });
  const result = await agent.run('go');
  assert.equal(result.success, true);
  assert.equal(result.text, 'Done from CJS.');
  console.log(`cjs: ok (addon loaded from ${path.relative(__dirname, loaded[0])})`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
EOF
cat >"$app/consumer.mts" <<'EOF'
import { Agent, jsonSchema, type AgentEvent, type RunResult } from 'harnext';
const agent = new Agent({ model: 'scripted', script: [{ text: 'hi' }] });
export async function main(): Promise<RunResult<{ n: number }>> {
  for await (const e of agent.stream('x')) {
    const ev: AgentEvent = e;
    if (ev.type === 'tool_result') ev.status satisfies 'ok' | 'error' | 'denied' | 'cancelled';
  }
  return agent.run('y', { outputSchema: jsonSchema<{ n: number }>({ type: 'object' }) });
}
EOF
cat >"$app/consumer.cts" <<'EOF'
import { Agent, tool, jsonSchema } from 'harnext';
export const t = tool({ name: 'x', description: 'x', inputSchema: jsonSchema<{ a: string }>({ type: 'object' }), execute: (args) => args.a });
export const a = new Agent({ model: 'scripted', tools: [t] });
EOF
cat >"$app/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "es2022", "lib": ["es2023", "dom"],
    "module": "nodenext", "moduleResolution": "nodenext", "types": [], "skipLibCheck": false
  },
  "files": ["consumer.mts", "consumer.cts"]
}
EOF
cat >"$app/turns.json" <<'EOF'
[
  { "text": "Listing the workspace.", "toolCalls": [{ "name": "bash", "args": { "command": "ls" } }] },
  { "text": "It holds out.txt." }
]
EOF

say "node esm.mjs / node cjs.cjs"
(cd "$app" && run node esm.mjs && run node cjs.cjs)

say "tsc --strict on a .mts and a .cts consumer of the installed package"
(cd "$app" && run node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json)
echo "tsc: ok" >&2

say "npx harnext --help"
(cd "$app" && run npx --no -- harnext --help >"$work/help.txt")
head -4 "$work/help.txt"
grep -q -- "--permission-mode" "$work/help.txt" || die "npx harnext --help does not list the flags"

say "npx harnext --script turns.json --cwd ws \"what is here?\""
(cd "$app" && run npx --no -- harnext --script turns.json --cwd ws "what is here?")
(cd "$app" && run npx --no -- harnext --json --script turns.json --cwd ws "what is here?" | tail -1 |
  node -e 'const e = JSON.parse(require("fs").readFileSync(0, "utf8")); if (e.type !== "run_end" || !e.result.success) process.exit(1); console.log("--json: ok, ends with run_end")')

say "ok: $name $version installs from its tarballs and runs without a Rust toolchain"
echo "   addon $addon: $addon_size bytes ($(human "$addon_size"))" >&2
