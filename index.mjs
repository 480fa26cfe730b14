// The ESM entry point (`import ... from 'harnext'`): the very module `require('harnext')`
// loads (index.js), re-exported by name, so ESM and CJS callers share one native binding
// and the same classes. No top-level await. Types: index.d.mts.
import harnext from './index.js'

export const {
  Agent,
  EventStream,
  __napiBindingTarget,
  tool,
  jsonSchema,
  builtinTools,
} = harnext
