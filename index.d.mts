// The types of the ESM entry point (index.mjs): exactly those of index.d.ts, which napi-rs
// generates from the Rust binding. `exports["."].import.types` points here, so TypeScript
// sees an ES module under `moduleResolution: node16 | nodenext | bundler`.
export * from './index.js'
