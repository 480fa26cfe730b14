#!/usr/bin/env node
// A structured code review of a git diff: the answer is an object checked against a Zod
// schema (`outputSchema`), typed and validated, in `result.output`.
//
//   node examples/review-diff.mjs                 # offline: the scripted model reviews a sample diff
//   ANTHROPIC_API_KEY=... node examples/review-diff.mjs [repo]
//                                                 # reviews `git diff HEAD` of repo (default: .)
//
// The reviewer runs read-only: it may read files around the change for context, never
// edit them. Exit code: 0 when the review came back valid, else 1.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Agent } from 'harnext';

const Review = z.object({
  summary: z.string().describe('What the change does, in one or two sentences'),
  verdict: z.enum(['approve', 'comment', 'request_changes']),
  issues: z.array(
    z.object({
      file: z.string(),
      line: z.number().int().optional().describe('Line in the new version of the file'),
      severity: z.enum(['bug', 'risk', 'style', 'nit']),
      message: z.string(),
      suggestion: z.string().optional(),
    }),
  ),
});

// A change to examples/sample-repo that breaks `complete()` (used offline, or when the
// repository given has no changes).
const SAMPLE_DIFF = `diff --git a/src/todo.js b/src/todo.js
--- a/src/todo.js
+++ b/src/todo.js
@@ -17,9 +17,8 @@ function add(list, title) {
 /** Marks the todo with this id as done and returns it. */
 function complete(list, id) {
-  const item = list.items.find((t) => t.id === id);
-  if (!item) throw new Error(\`no todo with id \${id}\`);
+  const item = list.items.find((t) => t.id == id);
   item.done = true;
   return item;
 }
`;

const key = process.env.ANTHROPIC_API_KEY ? 'anthropic' : process.env.OPENAI_API_KEY ? 'openai' : null;
const model = key ? process.env.HARNEXT_MODEL || (key === 'anthropic' ? 'anthropic/claude-sonnet-4-5' : 'openai/gpt-5') : 'scripted';
const sampleRepo = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sample-repo');

let repo = sampleRepo;
let diff = SAMPLE_DIFF;
if (model !== 'scripted') {
  repo = path.resolve(process.argv[2] ?? '.');
  try {
    diff = execFileSync('git', ['diff', 'HEAD'], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 26 });
  } catch (e) {
    console.error(`git diff failed in ${repo}: ${e.message}`);
    process.exit(1);
  }
  if (!diff.trim()) {
    console.error(`no changes in ${repo}: reviewing a sample diff of examples/sample-repo instead`);
    [repo, diff] = [sampleRepo, SAMPLE_DIFF];
  }
}

// Offline, the scripted model answers with JSON text; the same checks apply to it.
const script = [
  {
    text: 'Let me read the function around the change.',
    toolCalls: [{ name: 'read_file', args: { path: 'src/todo.js', offset: 17, limit: 8 } }],
  },
  {
    text: JSON.stringify({
      summary: 'Loosens the id comparison in complete() and removes its not-found check.',
      verdict: 'request_changes',
      issues: [
        {
          file: 'src/todo.js',
          line: 20,
          severity: 'bug',
          message: 'Without the not-found check, complete() on an unknown id throws a TypeError on `item.done` instead of the documented error.',
          suggestion: 'Keep the `if (!item) throw ...` check before using the item.',
        },
        {
          file: 'src/todo.js',
          line: 20,
          severity: 'risk',
          message: '`==` makes "1" match id 1; ids are numbers, so strict equality was right.',
          suggestion: 'Restore `===`.',
        },
      ],
    }),
  },
];

const agent = new Agent({
  model,
  cwd: repo,
  permissionMode: 'read-only',
  systemPrompt: { append: 'You are reviewing a change. Be specific: name the file and line of each issue.' },
  ...(model === 'scripted' ? { script } : {}),
});

const result = await agent.run(`Review this diff. Read the surrounding code if you need context.\n\n${diff}`, {
  outputSchema: Review,
});

if (!result.success) {
  console.error(`review failed (${result.error?.code}): ${result.error?.message}`);
  process.exit(1);
}

// result.output is typed: z.infer<typeof Review>.
const review = result.output;
const mark = { approve: '✓', comment: '•', request_changes: '✗' }[review.verdict];
console.log(`${mark} ${review.verdict.replace('_', ' ')} (${model})\n\n${review.summary}\n`);
for (const issue of review.issues) {
  console.log(`[${issue.severity}] ${issue.file}${issue.line ? `:${issue.line}` : ''}: ${issue.message}`);
  if (issue.suggestion) console.log(`        → ${issue.suggestion}`);
}
console.log(`\n${review.issues.length} issue(s) · ${result.steps.length} tool call(s) · ${result.durationMs} ms`);
