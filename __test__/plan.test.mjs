// Issue 18, the plan the user can see: `todo_write` and the typed `todo` event, on the
// scripted model; the list kept in the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, builtinTools } from '../index.js';

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-plan-'));
const todo = (...items) => ({ name: 'todo_write', args: { todos: items.map(([content, status]) => ({ content, status })) } });

test('todo events carry the whole list at each change; a bad list is an error result and no event; loadSession has the list', async () => {
  const sessionDir = workspace();
  const agent = new Agent({
    model: 'scripted',
    cwd: workspace(),
    sessionDir,
    permissionMode: 'manual',
    onPermissionRequest: () => ({ behavior: 'deny' }),
    script: [
      { toolCalls: [todo(['Write the parser', 'in_progress'], ['Test it', 'pending'])] },
      { toolCalls: [todo(['a', 'in_progress'], ['b', 'in_progress'])] },
      { toolCalls: [todo(['Write the parser', 'completed'], ['Test it', 'in_progress'])] },
      { text: 'ok' },
    ],
  });
  assert.ok(builtinTools.includes('todo_write'));
  const events = [];
  for await (const e of agent.stream('plan')) events.push(e);
  const seq = events.filter((e) => ['tool_call', 'todo', 'tool_result'].includes(e.type)).map((e) => (e.type === 'tool_result' ? `result ${e.status}` : e.type));
  // Never asked in the manual mode: the plan changes nothing in the workspace.
  assert.deepEqual(seq, ['tool_call', 'todo', 'result ok', 'tool_call', 'result error', 'tool_call', 'todo', 'result ok']);
  const todos = events.filter((e) => e.type === 'todo').map((e) => e.todos);
  assert.deepEqual(todos, [
    [{ content: 'Write the parser', status: 'in_progress' }, { content: 'Test it', status: 'pending' }],
    [{ content: 'Write the parser', status: 'completed' }, { content: 'Test it', status: 'in_progress' }],
  ]);
  const error = events.filter((e) => e.type === 'tool_result')[1].output;
  assert.match(error, /2 items are in_progress .* at most one may be/);
  const result = events.at(-1).result;
  assert.deepEqual((await Agent.loadSession(result.sessionId, { sessionDir })).todos, todos[1]);
});
