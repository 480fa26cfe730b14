"""run() and stream() end to end on the three wire formats, against the mock provider."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, List

import pytest

from harnext import (
    Agent,
    RunEndEvent,
    RunResult,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    ToolStep,
    Usage,
)

from conftest import FORMATS, Mock

TOOL_TURN = {
    "turn": {
        "text": "Writing the notes.",
        "toolCalls": [{"name": "write_file", "args": {"path": "notes.md", "content": "hello\n"}}],
        "usage": {"inputTokens": 10, "outputTokens": 5, "cacheReadTokens": 3},
    }
}
END_TURN = {"turn": {"text": "Done: notes.md written.", "usage": {"inputTokens": 20, "outputTokens": 7}}}


def agent_for(model: str, mock: Mock, cwd: Path, **extra: Any) -> Agent:
    return Agent(model, base_url=mock.url, api_key="sk-test-key-python", cwd=cwd, **extra)


@pytest.mark.parametrize("model", FORMATS)
def test_run_returns_the_result_of_the_design_document(model: str, mock: Mock, workspace: Path) -> None:
    mock.push(TOOL_TURN, END_TURN)
    result = agent_for(model, mock, workspace).run("write notes")
    assert isinstance(result, RunResult)
    assert result.text == "Done: notes.md written."
    assert result.success is True and result.cancelled is False
    assert result.stop_reason == "end_turn"
    assert result.files_changed == ["notes.md"]
    assert (workspace / "notes.md").read_text() == "hello\n"
    assert len(result.steps) == 1
    step = result.steps[0]
    assert isinstance(step, ToolStep)
    assert (step.tool, step.status, step.args) == ("write_file", "ok", {"path": "notes.md", "content": "hello\n"})
    assert isinstance(result.usage, Usage)
    assert result.usage.input_tokens == 30 and result.usage.output_tokens == 12
    assert result.usage.cache_read_tokens == 3
    assert result.session_id.startswith("sess_") and len(result.session_id) >= 15
    assert result.error is None and result.output is None
    assert result.duration_ms >= 0


@pytest.mark.parametrize("model", FORMATS)
def test_stream_yields_the_events_in_order_and_run_end_last(model: str, mock: Mock, workspace: Path) -> None:
    mock.push(TOOL_TURN, END_TURN)
    events = list(agent_for(model, mock, workspace).stream("write notes"))
    types = [e.type for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert types.count("run_end") == 1
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert len(calls) == 1 and len(results) == 1 and calls[0].id == results[0].id
    assert calls[0].tool == "write_file" and results[0].status == "ok"
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    # The final model call's text chunks make result.text.
    last_call = types.index("tool_result")
    text = "".join(e.text for e in events[last_call:] if isinstance(e, TextEvent))
    assert text == end.result.text == "Done: notes.md written."
    assert events[0].session_id == end.result.session_id  # type: ignore[union-attr]
    usage = [e for e in events if e.type == "usage"]
    assert [u.input_tokens for u in usage] == [10, 20]  # type: ignore[union-attr]


@pytest.mark.parametrize("model", FORMATS)
def test_a_list_of_messages_is_the_conversation(model: str, mock: Mock, workspace: Path) -> None:
    before = len(mock.requests())
    mock.push({"turn": {"text": "Blue."}})
    result = agent_for(model, mock, workspace).run(
        [
            {"role": "user", "content": "My favourite colour is blue."},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "What is it?"},
        ]
    )
    assert result.success and result.text == "Blue."
    body = str(mock.requests()[before:])
    for text in ("My favourite colour is blue.", "Noted.", "What is it?"):
        assert text in body


def test_a_provider_error_is_a_failed_result_not_an_exception(mock: Mock, workspace: Path) -> None:
    mock.push({"status": 401})
    result = agent_for("anthropic/claude-test", mock, workspace, max_retries=0).run("hi")
    assert result.success is False and result.cancelled is False
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.code == "auth"
    assert "sk-test-key-python" not in repr(result)


def test_the_gil_is_released_while_the_engine_works(mock: Mock, workspace: Path) -> None:
    mock.push({"turn": {"text": "slow reply in several chunks", "delayMs": 40}})
    ticks: List[int] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.005)

    t = threading.Thread(target=count)
    t.start()
    try:
        result = agent_for("anthropic/claude-test", mock, workspace).run("slow")
    finally:
        stop.set()
        t.join()
    assert result.success
    # The run took >= 200 ms (5 chunks x 40 ms): a thread blocked on the GIL would not tick.
    assert len(ticks) >= 10


def test_max_steps_stops_the_run(mock: Mock, workspace: Path) -> None:
    mock.push(TOOL_TURN, TOOL_TURN)
    result = agent_for("anthropic/claude-test", mock, workspace).run("loop", max_steps=1)
    assert result.stop_reason == "max_steps" and not result.success
    assert result.error is not None and result.error.code == "max_steps"
