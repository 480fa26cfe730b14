#!/usr/bin/env node
// Checks that no module of a crate imports another that imports it back, directly or
// through others: the modules of each crate given (its src/ folder) must form a DAG.
//
//   node scripts/check-modules.mjs crates/harnext-core/src src
//
// A module is a file (`foo.rs` and `foo/mod.rs` are `foo`, `lib.rs` is the crate root).
// Module A depends on module B when A's code (comments left out) names a path into B:
// `use crate::b::Item`, `crate::b::f()`, `super::b`, `self::b`; a path is attributed to the
// deepest module it names. A facade that re-exports its children (`pub use child::X` in
// `mod.rs` or `lib.rs`) depends on them, so children must not reach back through it.
// Exits 1 and prints each cycle when there is one.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function rsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...rsFiles(p));
    else if (name.endsWith('.rs')) out.push(p);
  }
  return out;
}

/** `crate::a::b` style module path of a file (without the `crate` prefix). */
function moduleOf(root, file) {
  const rel = path.relative(root, file).split(path.sep);
  const last = rel.pop().replace(/\.rs$/, '');
  if (last !== 'mod' && last !== 'lib' && last !== 'main') rel.push(last);
  return rel;
}

/** The code of a Rust file with comments and string contents blanked out. */
function code(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') { depth++; i += 2; }
        else if (text[i] === '*' && text[i + 1] === '/') { depth--; i += 2; }
        else i++;
      }
    } else if (c === 'r' && (next === '"' || (next === '#' && /^r#+"/.test(text.slice(i, i + 10))))) {
      const hashes = text.slice(i + 1).match(/^#*/)[0];
      const end = text.indexOf(`"${hashes}`, i + 2 + hashes.length);
      i = end < 0 ? text.length : end + 1 + hashes.length;
      out += '""';
    } else if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      out += '""';
    } else if (c === "'" && /^'(\\.|[^\\'])'/.test(text.slice(i, i + 4))) {
      i += text[i + 1] === '\\' ? 4 : 3;
      out += "' '";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Every path a `use` tree names, expanded: `use a::{b, c::{d, e}}` gives a::b, a::c::d, a::c::e. */
function expandUse(tree) {
  tree = tree.replace(/\s+/g, '');
  const brace = tree.indexOf('{');
  if (brace < 0) return [tree.replace(/::\*$/, '').replace(/as\w+$/, '')];
  const prefix = tree.slice(0, brace);
  const inner = tree.slice(brace + 1, tree.lastIndexOf('}'));
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '{') depth++;
    else if (inner[i] === '}') depth--;
    else if (inner[i] === ',' && depth === 0) { parts.push(inner.slice(start, i)); start = i + 1; }
  }
  parts.push(inner.slice(start));
  return parts.filter(Boolean).flatMap((p) => expandUse(prefix + (p === 'self' ? '' : p)).map((x) => x.replace(/::$/, '')));
}

/**
 * The paths named in `src`, by the module they are named in: inline modules
 * (`mod tests { ... }`) are modules of their own, so their `super::` is the file's module.
 */
function pathsIn(src, here) {
  const out = [];
  let rest = '';
  let i = 0;
  const re = /\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/g;
  let m;
  while ((m = re.exec(src))) {
    if (m.index < i) continue;
    rest += src.slice(i, m.index);
    let depth = 1;
    let j = m.index + m[0].length;
    while (j < src.length && depth > 0) {
      if (src[j] === '{') depth++;
      else if (src[j] === '}') depth--;
      j++;
    }
    out.push(...pathsIn(src.slice(m.index + m[0].length, j - 1), [...here, m[1]]));
    i = j;
    re.lastIndex = j;
  }
  rest += src.slice(i);
  const paths = [];
  for (const u of rest.matchAll(/\buse\s+([^;]+);/g)) paths.push(...expandUse(u[1]));
  for (const u of rest.matchAll(/\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)/g)) paths.push(u[1] + u[2]);
  out.push([here, paths]);
  return out;
}

function check(root) {
  const files = rsFiles(root);
  const modules = new Map(files.map((f) => [moduleOf(root, f).join('::'), f]));
  const known = new Set(modules.keys());
  /** The deepest known module a path (segments, from the crate root) names. */
  const resolve = (segs) => {
    for (let n = segs.length; n >= 0; n--) {
      const m = segs.slice(0, n).join('::');
      if (known.has(m)) return m;
    }
    return '';
  };
  const edges = new Map();
  for (const [mod, file] of modules) {
    const here = mod ? mod.split('::') : [];
    const deps = new Set();
    for (const [inMod, paths] of pathsIn(code(readFileSync(file, 'utf8')), here)) {
      for (const p of paths) {
        const segs = p.split('::').filter(Boolean);
        let abs;
        if (segs[0] === 'crate') abs = segs.slice(1);
        else if (segs[0] === 'self') abs = [...inMod, ...segs.slice(1)];
        else if (segs[0] === 'super') {
          let base = [...inMod];
          let i = 0;
          while (segs[i] === 'super') { base = base.slice(0, -1); i++; }
          abs = [...base, ...segs.slice(i)];
        } else continue;
        const dep = resolve(abs);
        if (dep !== mod) deps.add(dep);
      }
    }
    // Declaring a child module (`mod x;`) is not a dependency; naming its items is.
    edges.set(mod, deps);
  }
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const cycles = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v) || []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) cycles.push(scc);
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  const name = (m) => m || 'crate (lib.rs)';
  for (const scc of cycles) {
    const members = new Set(scc);
    const detail = scc.flatMap((m) => [...edges.get(m)].filter((d) => members.has(d)).map((d) => `${name(m)} -> ${name(d)}`));
    console.error(`${root}: modules that import each other: ${scc.map(name).join(', ')}\n  ${detail.join('\n  ')}`);
  }
  return { root, modules: modules.size, cycles: cycles.length };
}

const roots = process.argv.slice(2);
if (roots.length === 0) {
  console.error('usage: node scripts/check-modules.mjs <crate src dir>...');
  process.exit(2);
}
let bad = 0;
for (const root of roots) {
  const r = check(root);
  if (r.cycles) bad++;
  else console.log(`${root}: ${r.modules} modules, no import cycle`);
}
process.exit(bad ? 1 : 0);
