// Command hooks (`--hook <event>=<command>`), as Claude Code has them: the command runs with
// `bash -c` in the workspace, gets the hook's input as JSON on stdin, and answers JSON on
// stdout (nothing: no opinion). Exit status 2 denies the call (preToolUse) or blocks the run
// (userPromptSubmit) with stderr as the message; any other failure is the hook's error (a
// `hook_error` event; a failed preToolUse hook denies the call).
import { spawn } from 'node:child_process';

export const HOOK_EVENTS = ['preToolUse', 'postToolUse', 'userPromptSubmit', 'stop', 'preCompact', 'sessionStart', 'sessionEnd'];

/** How long a command may run; past it, it is killed (the engine gives up at the same time). */
export const COMMAND_TIMEOUT_MS = 60_000;

const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const clip = (s, n) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The hook function running `command` for `event`. */
export function commandHook(event, command, cwd) {
  return (input) =>
    new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', command], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      running.add(child);
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
      timer.unref();
      child.on('error', (e) => {
        clearTimeout(timer);
        running.delete(child);
        reject(new Error(`the hook command could not start: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        running.delete(child);
        const stderr = err.trim();
        if (code === 0) {
          const text = out.trim();
          if (!text) return resolve(undefined);
          try {
            return resolve(JSON.parse(text));
          } catch {
            return reject(new Error(`the hook command's output is not JSON: ${clip(text, 200)}`));
          }
        }
        if (code === 2 && event === 'preToolUse') return resolve({ decision: 'deny', message: stderr || 'A hook command denied this tool call.' });
        if (code === 2 && event === 'userPromptSubmit') return resolve({ decision: 'block', reason: stderr || 'a hook command blocked it' });
        reject(new Error(`the hook command \`${clip(command, 80)}\` ${signal ? `was killed (${signal})` : `exited with ${code}`}${stderr ? `: ${clip(stderr, 500)}` : ''}`));
      });
      // A command that does not read its input is not an error.
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify(input));
    });
}

/** The `hooks` option for `--hook event=command` flags (in the order given). */
export function commandHooks(specs, cwd) {
  if (!specs.length) return undefined;
  const hooks = {};
  for (const { event, command } of specs) (hooks[event] ??= []).push(commandHook(event, command, cwd));
  return hooks;
}
