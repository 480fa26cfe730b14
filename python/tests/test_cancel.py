"""Cancellation: a CancelToken from another thread, leaving a stream early, and a real
SIGINT (Ctrl-C) in a child process: the run ends cancelled, the running command is killed,
open tool calls end `cancelled`, the session keeps what was done."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harnext import Agent, CancelToken, RunEndEvent

from conftest import ROOT, Mock

# The sleep's duration marks it (unique to this test process): in the sandbox's PID
# namespace `$$` is not the pid on the host, so the command is found by its command line.
SLEEP_ARG = f"30.{os.getpid():07d}"
SLEEP_TURN = {
    "turn": {
        "text": "Sleeping.",
        "toolCalls": [{"name": "bash", "args": {"command": f"echo started > pid; exec sleep {SLEEP_ARG}"}}],
    }
}
# What the contract promises (100 ms) with room for a loaded 2-core machine.
PROMPT_S = 2.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie that is not reaped yet counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_for_pid(cwd: Path) -> int:
    """The host pid of the running `sleep SLEEP_ARG`, once the command wrote `pid`."""
    wanted = b"sleep\0" + SLEEP_ARG.encode() + b"\0"
    for _ in range(500):
        if (cwd / "pid").exists():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if cmdline == wanted and alive(int(entry)):
                    return int(entry)
        time.sleep(0.01)
    raise AssertionError("the command never started")


def agent_for(mock: Mock, cwd: Path, **extra: Any) -> Agent:
    return Agent("anthropic/claude-test", base_url=mock.url, api_key="sk-test", cwd=cwd, **extra)


def test_cancel_from_another_thread_returns_the_cancelled_result(mock: Mock, workspace: Path) -> None:
    mock.push(SLEEP_TURN)
    cancel = CancelToken()
    pids = []

    def later() -> None:
        pids.append(wait_for_pid(workspace))
        pids.append(time.monotonic())
        cancel.cancel()

    t = threading.Thread(target=later)
    t.start()
    result = agent_for(mock, workspace).run("sleep", cancel=cancel)
    t.join()
    elapsed = time.monotonic() - pids[1]
    assert result.cancelled is True and result.success is False
    assert result.stop_reason == "cancelled"
    assert [s.status for s in result.steps] == ["cancelled"]
    assert elapsed < PROMPT_S
    assert not alive(int(pids[0]))
    session = Agent.load_session(result.session_id)
    assert session.steps[-1].status == "cancelled"


def test_a_token_cancelled_before_the_run_cancels_at_once(mock: Mock, workspace: Path) -> None:
    before = len(mock.requests())
    cancel = CancelToken()
    cancel.cancel()
    result = agent_for(mock, workspace).run("x", cancel=cancel)
    assert result.cancelled and len(mock.requests()) == before


def test_breaking_out_of_a_stream_cancels_the_run(mock: Mock, workspace: Path) -> None:
    mock.push(SLEEP_TURN)
    agent = agent_for(mock, workspace)
    session_id = None
    for e in agent.stream("sleep"):
        if e.type == "run_start":
            session_id = e.session_id
        if e.type == "tool_call":
            pid = wait_for_pid(workspace)
            break
    # close() waited for the run to end: the command is gone and the session complete.
    assert not alive(pid)
    assert session_id is not None
    assert Agent.load_session(session_id).steps[-1].status == "cancelled"


def test_closing_or_dropping_a_stream_cancels_the_run(mock: Mock, workspace: Path) -> None:
    for how in ("close", "gc"):
        mock.push(SLEEP_TURN)
        (workspace / "pid").unlink(missing_ok=True)
        gen = agent_for(mock, workspace).stream("sleep")
        for e in gen:
            if e.type == "tool_call":
                break
        pid = wait_for_pid(workspace)
        if how == "close":
            gen.close()
        else:
            del gen, e
            gc.collect()
        for _ in range(200):
            if not alive(pid):
                break
            time.sleep(0.01)
        assert not alive(pid), how


def test_a_stream_given_a_cancel_token_ends_with_run_end(mock: Mock, workspace: Path) -> None:
    mock.push(SLEEP_TURN)
    cancel = CancelToken()
    events = []
    for e in agent_for(mock, workspace).stream("sleep", cancel=cancel):
        events.append(e)
        if e.type == "tool_call":
            wait_for_pid(workspace)
            cancel.cancel()
    assert isinstance(events[-1], RunEndEvent) and events[-1].result.cancelled
    assert [e.status for e in events if e.type == "tool_result"] == ["cancelled"]


CHILD = r"""
import json, os, sys, time
from harnext import Agent
agent = Agent("anthropic/claude-test", base_url=sys.argv[1], api_key="sk-test", cwd=sys.argv[2])
mode = sys.argv[3]
try:
    if mode == "run":
        agent.run("sleep")
    else:
        for e in agent.stream("sleep"):
            print(json.dumps({"event": e.type}), flush=True)
except KeyboardInterrupt as e:
    from harnext import RunInterrupted
    assert isinstance(e, RunInterrupted), type(e)
    r = e.result
    print(json.dumps({"interrupted": True, "cancelled": r.cancelled, "session_id": r.session_id,
                      "steps": [s.status for s in r.steps]}), flush=True)
    sys.exit(130)
print(json.dumps({"interrupted": False}), flush=True)
"""


def test_a_real_sigint_cancels_run_and_stream_and_reraises_keyboard_interrupt(mock: Mock, workspace: Path) -> None:
    for mode in ("run", "stream"):
        mock.push(SLEEP_TURN)
        (workspace / "pid").unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": ""}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, mock.url, str(workspace), mode],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=str(ROOT / "target"),
        )
        pid = wait_for_pid(workspace)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
        elapsed = time.monotonic() - sent
        last = json.loads(out.strip().splitlines()[-1])
        assert child.returncode == 130, (mode, out)
        assert last["interrupted"] and last["cancelled"] and last["steps"] == ["cancelled"], (mode, last)
        assert elapsed < PROMPT_S + 1, (mode, elapsed)
        assert not alive(pid), mode
        session = Agent.load_session(last["session_id"])
        assert [s.status for s in session.steps] == ["cancelled"]
        # The history stays valid: the tool call has its (cancelled) result.
        blocks = [b for m in session.messages for b in m["content"]]
        assert any(b["type"] == "tool_result" and b["status"] == "cancelled" for b in blocks)


def test_a_signal_handler_may_cancel_the_token(mock: Mock, workspace: Path) -> None:
    # A Python signal handler runs in the main thread while run() waits (the wait wakes to
    # run handlers); cancel() from there is safe and the run ends cancelled, no exception.
    mock.push(SLEEP_TURN)
    cancel = CancelToken()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: cancel.cancel())
    try:

        def later() -> None:
            wait_for_pid(workspace)
            os.kill(os.getpid(), signal.SIGUSR1)

        t = threading.Thread(target=later)
        t.start()
        result = agent_for(mock, workspace).run("sleep", cancel=cancel)
        t.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert cancel.cancelled and result.cancelled
    assert [s.status for s in result.steps] == ["cancelled"]
