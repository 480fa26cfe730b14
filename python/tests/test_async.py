"""arun() and astream() on asyncio: the same results and events as run() and stream();
cancelling the task cancels the run."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, List

import pytest

from harnext import Agent, CancelToken, RunResult

from conftest import FORMATS, Mock
from test_cancel import PROMPT_S, SLEEP_TURN, alive, wait_for_pid
from test_run import END_TURN, TOOL_TURN, agent_for


@pytest.mark.parametrize("model", FORMATS)
def test_arun_and_astream_match_the_sync_api(model: str, mock: Mock, workspace: Path) -> None:
    mock.push(TOOL_TURN, END_TURN, TOOL_TURN, END_TURN)

    async def main() -> Any:
        agent = agent_for(model, mock, workspace)
        result = await agent.arun("write notes")
        events = [e async for e in agent.astream("write notes")]
        return result, events

    result, events = asyncio.run(main())
    assert isinstance(result, RunResult) and result.success and result.text == "Done: notes.md written."
    assert events[0].type == "run_start" and events[-1].type == "run_end"
    assert [e.type for e in events if e.type in ("tool_call", "tool_result")] == ["tool_call", "tool_result"]
    assert events[-1].result.text == result.text


def test_cancelling_the_arun_task_cancels_the_run(mock: Mock, workspace: Path) -> None:
    mock.push(SLEEP_TURN)

    async def main() -> Any:
        task = asyncio.create_task(agent_for("anthropic/claude-test", mock, workspace).arun("sleep"))
        pid = await asyncio.to_thread(wait_for_pid, workspace)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as info:
            await task
        return pid, time.monotonic() - t0, info.value

    pid, elapsed, error = asyncio.run(main())
    assert elapsed < PROMPT_S
    assert not alive(pid)
    # The session is complete when the task ends (the newest one in the session directory).
    newest = Agent.list_sessions()[0]
    assert [s.status for s in Agent.load_session(newest.id).steps] == ["cancelled"]
    if sys.version_info >= (3, 11):
        # Python 3.11 and later hand the awaiting code the CancelledError arun() raised,
        # which carries the cancelled result (3.9 and 3.10 make a new one).
        result = getattr(error, "result", None)
        assert isinstance(result, RunResult) and result.cancelled and result.session_id == newest.id
        assert [s.status for s in result.steps] == ["cancelled"]


def test_cancelling_an_astream_task_cancels_the_run(mock: Mock, workspace: Path) -> None:
    mock.push(SLEEP_TURN)
    seen: List[str] = []

    async def consume() -> None:
        async for e in agent_for("anthropic/claude-test", mock, workspace).astream("sleep"):
            seen.append(e.type)

    async def main() -> int:
        task = asyncio.create_task(consume())
        pid = await asyncio.to_thread(wait_for_pid, workspace)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    pid = asyncio.run(main())
    assert "tool_call" in seen
    for _ in range(200):
        if not alive(pid):
            break
        time.sleep(0.01)
    assert not alive(pid)


def test_breaking_out_of_astream_and_a_cancel_token(mock: Mock, workspace: Path) -> None:
    mock.push(SLEEP_TURN, SLEEP_TURN)

    async def main() -> Any:
        agent = agent_for("anthropic/claude-test", mock, workspace)
        stream = agent.astream("sleep")
        pid1 = 0
        async for e in stream:
            if e.type == "tool_call":
                pid1 = await asyncio.to_thread(wait_for_pid, workspace)
                break
        await stream.aclose()
        (workspace / "pid").unlink()
        cancel = CancelToken()
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, cancel.cancel)
        result = await agent.arun("sleep", cancel=cancel)
        return pid1, result

    pid1, result = asyncio.run(main())
    assert not alive(pid1)
    assert result.cancelled


def test_other_tasks_run_during_arun(mock: Mock, workspace: Path) -> None:
    mock.push({"turn": {"text": "a slow reply in chunks", "delayMs": 30}})

    async def main() -> Any:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        t = asyncio.create_task(tick())
        result = await agent_for("anthropic/claude-test", mock, workspace).arun("slow")
        t.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result.success and ticks >= 10
