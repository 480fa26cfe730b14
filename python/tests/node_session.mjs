// The Node half of the session-crossing test (test_sessions.py): runs one task on the mock
// provider, continuing `sessionId` when given, and prints the result and the session as
// Node reads it back, as JSON.
import { Agent } from '../../index.js';

const [url, cwd, sessionDir, task, sessionId] = process.argv.slice(2);
const agent = new Agent({ model: 'anthropic/claude-test', baseURL: url, apiKey: 'sk-node', cwd, sessionDir });
const result = await agent.run(task, sessionId ? { sessionId } : undefined);
const session = await Agent.loadSession(result.sessionId, { sessionDir });
console.log(JSON.stringify({ result, messages: session.messages.length, steps: session.steps.map((s) => s.status), runs: session.runs }));
