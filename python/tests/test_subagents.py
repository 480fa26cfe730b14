"""Subagents (the ``agents`` option and the ``task`` tool) through the Python API, on the
scripted model: two concurrent tasks, nested events, rolled-up usage, transcripts in the
session, cancellation of both, and clear errors for bad definitions."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harnext import Agent, CancelToken, RunEndEvent, SubagentEvent, SubagentTranscript

AGENTS: Dict[str, Any] = {
    "finder": {"description": "Finds things", "system_prompt": "You find things.", "tools": ["read_file", "grep"]},
    "counter": {"description": "Counts things", "system_prompt": "You count.", "tools": ["read_file"], "max_steps": 2},
}
TWO_TASKS = {
    "toolCalls": [
        {"id": "t1", "name": "task", "args": {"agent": "finder", "prompt": "Find it"}},
        {"id": "t2", "name": "task", "args": {"agent": "counter", "prompt": "Count it"}},
    ],
    "usage": {"inputTokens": 10, "outputTokens": 1},
}


def test_two_concurrent_tasks_nested_events_usage_and_transcripts(tmp_path: Path, workspace: Path) -> None:
    (workspace / "a.txt").write_text("forty-two\n")
    agent = Agent(
        "scripted",
        cwd=workspace,
        session_dir=tmp_path / "sessions",
        agents=AGENTS,
        script=[
            TWO_TASKS,
            {"text": "Looking.", "toolCalls": [{"name": "read_file", "args": {"path": "a.txt"}}],
             "usage": {"inputTokens": 100, "outputTokens": 5}, "delayMs": 30},
            {"text": "ANSWER-ONE", "usage": {"inputTokens": 200, "outputTokens": 6}, "delayMs": 60},
            {"text": "ANSWER-TWO", "usage": {"inputTokens": 300, "outputTokens": 7}},
            {"text": "Done with both.", "usage": {"inputTokens": 20, "outputTokens": 2}},
        ],
    )
    events = list(agent.stream("Delegate"))
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    result = end.result
    assert result.success, result
    assert {s.output for s in result.steps} == {"ANSWER-ONE", "ANSWER-TWO"}
    assert result.usage.input_tokens == 10 + 100 + 200 + 300 + 20
    nested = [e for e in events if isinstance(e, SubagentEvent)]
    assert {(e.agent, e.call_id) for e in nested} == {("finder", "t1"), ("counter", "t2")}
    for call in ("t1", "t2"):
        own = [e.event for e in nested if e.call_id == call]
        assert own[0].type == "run_start" and own[-1].type == "run_end"
    assert any(e.event.type == "tool_call" and e.event.tool == "read_file" for e in nested)
    first_end = next(i for i, e in enumerate(nested) if e.event.type == "run_end")
    assert sum(1 for e in nested[:first_end] if e.event.type == "run_start") == 2

    data = Agent.load_session(result.session_id, session_dir=tmp_path / "sessions")
    assert sorted((t.agent, t.call_id) for t in data.subagents) == [("counter", "t2"), ("finder", "t1")]
    assert all(isinstance(t, SubagentTranscript) and t.stop_reason == "end_turn" for t in data.subagents)
    assert data.usage.input_tokens == result.usage.input_tokens


def test_cancelling_the_parent_stops_both_subagents(workspace: Path) -> None:
    slow = {"text": "one two three four five six", "delayMs": 1000}
    agent = Agent("scripted", cwd=workspace, persist_session=False, agents=AGENTS, script=[TWO_TASKS, slow, slow, {"text": "never"}])
    token = CancelToken()
    events: List[Any] = []
    started = 0
    for e in agent.stream("Delegate", cancel=token):
        events.append(e)
        if isinstance(e, SubagentEvent) and e.event.type == "run_start":
            started += 1
            if started == 2:
                threading.Timer(0.05, token.cancel).start()
    result = events[-1].result
    assert result.cancelled
    assert [s.status for s in result.steps] == ["cancelled", "cancelled"]
    ends = [e for e in events if isinstance(e, SubagentEvent) and e.event.type == "run_end"]
    assert len(ends) == 2 and all(e.event.result.cancelled for e in ends)


def test_bad_definitions_are_refused_with_a_did_you_mean(workspace: Path) -> None:
    with pytest.raises(TypeError, match="did you mean `agents`"):
        Agent("scripted", script=[], agent=AGENTS)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"invalid option `agents`: `a`: unknown field \"sytem_prompt\": did you mean `system_prompt`\?"):
        Agent("scripted", script=[], agents={"a": {"description": "d", "sytem_prompt": "p", "tools": []}})
    with pytest.raises(ValueError, match=r"unknown tool \"grepp\" in `tools`: did you mean `grep`\?"):
        Agent("scripted", script=[], cwd=workspace, agents={"a": {"description": "d", "system_prompt": "p", "tools": ["grepp"]}})
    with pytest.raises(TypeError, match="agents"):
        Agent("scripted", script=[], agents=["finder"])  # type: ignore[arg-type]
