// A tiny HTTP endpoint for deferred approvals. node examples/fleet/approvals-server.mjs [port]
//   GET  /approvals                  -> [{ sessionId, title, pendingApprovals: [{ id, tool, args }] }]
//   POST /approvals/<sessionId>      body { "<callId>": "allow" | "deny" | {...}, ... }
//        -> enqueues the answer; a worker runs the approved calls and goes on.
import http from 'node:http';
import { Queue } from 'bullmq';
import { Agent } from '../../index.mjs';
import { POSTGRES_URL, QUEUE, connection } from './common.mjs';

const port = Number(process.argv[2] || 8787);
const queue = new Queue(QUEUE, { connection: connection() });

async function pending() {
  const sessions = await Agent.listSessions({ sessionStore: POSTGRES_URL });
  const out = [];
  for (const s of sessions) {
    const data = await Agent.loadSession(s.id, { sessionStore: POSTGRES_URL });
    if (data.pendingApprovals.length > 0) out.push({ sessionId: s.id, title: s.title, pendingApprovals: data.pendingApprovals });
  }
  return out;
}

const send = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/approvals') return send(res, 200, await pending());
    const m = url.pathname.match(/^\/approvals\/(sess_[0-9a-z]+)$/);
    if (req.method === 'POST' && m) {
      let body = '';
      for await (const chunk of req) body += chunk;
      const approvals = JSON.parse(body || '{}');
      const session = await Agent.loadSession(m[1], { sessionStore: POSTGRES_URL });
      const waiting = session.pendingApprovals.map((p) => p.id);
      const missing = waiting.filter((id) => !(id in approvals));
      if (waiting.length === 0 || missing.length > 0) {
        return send(res, 409, { error: waiting.length === 0 ? 'nothing waits for approval' : `no decision for ${missing.join(', ')}` });
      }
      const taskId = Number((session.messages[0]?.content[0]?.text ?? '').match(/^Task (\d+)/)?.[1] ?? -1);
      const job = await queue.add('answer', { task: { id: taskId }, sessionId: m[1], approvals }, { jobId: `answer-${m[1]}`, attempts: 5 });
      return send(res, 202, { queued: job.id });
    }
    send(res, 404, { error: 'GET /approvals or POST /approvals/<sessionId>' });
  } catch (e) {
    send(res, 400, { error: e.message });
  }
});
server.listen(port, '127.0.0.1', () => console.log(`approvals on http://127.0.0.1:${server.address().port}/approvals`));
process.on('SIGTERM', async () => { server.close(); await queue.close(); process.exit(0); });
