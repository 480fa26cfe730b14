// How the tests hold cancellation to its contract: "from abort to run_end takes under
// 100 ms" (README, Cancellation). Each test measures that interval, and the order and
// outcome of what happens (the cancelled results, the run_end, the processes gone). The
// bound it asserts is the contract plus a margin for a machine shared with builds, where a
// process may wait for a CPU longer than the contract's whole budget: a cancellation that
// waits for the work it should stop (a 30 s sleep, a stalled stream, a tool or a permission
// answer that never comes) still fails by far. `npm run bench` measures the interval itself.
import assert from 'node:assert/strict';

export const CANCEL_CONTRACT_MS = 100;
export const LOADED_MACHINE_MARGIN_MS = 900;

/** Asserts that `what` came promptly: `ms` after the abort. */
export function assertPrompt(ms, what) {
  assert.ok(
    ms < CANCEL_CONTRACT_MS + LOADED_MACHINE_MARGIN_MS,
    `${what} came ${ms.toFixed(1)} ms after the abort (contract: under ${CANCEL_CONTRACT_MS} ms, plus ${LOADED_MACHINE_MARGIN_MS} ms allowed for a loaded machine)`,
  );
}
