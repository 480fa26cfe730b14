"""Issue 18, the plan the user can see: todo_write and the typed TodoEvent, on the scripted
model; the list kept in the session."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

from harnext import Agent, TodoEvent, TodoItem, ToolResultEvent, builtin_tools


def todo(*items: Tuple[str, str]) -> Dict[str, Any]:
    return {"name": "todo_write", "args": {"todos": [{"content": c, "status": s} for c, s in items]}}


def test_todo_events_carry_the_whole_list_and_load_session_keeps_it(tmp_path: Path) -> None:
    assert "todo_write" in builtin_tools
    sessions = tmp_path / "sessions"
    agent = Agent(
        "scripted",
        cwd=tmp_path,
        session_dir=sessions,
        script=[
            {"toolCalls": [todo(("Write the parser", "in_progress"), ("Test it", "pending"))]},
            {"toolCalls": [todo(("x" * 201, "pending"))]},
            {"toolCalls": [todo(("Write the parser", "completed"), ("Test it", "in_progress"))]},
            {"text": "ok"},
        ],
    )
    events = list(agent.stream("plan"))
    todos: List[List[TodoItem]] = [e.todos for e in events if isinstance(e, TodoEvent)]
    assert todos == [
        [TodoItem("Write the parser", "in_progress"), TodoItem("Test it", "pending")],
        [TodoItem("Write the parser", "completed"), TodoItem("Test it", "in_progress")],
    ]
    assert all(e.type == "todo" for e in events if isinstance(e, TodoEvent))
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert "201 characters; at most 200" in results[1].output
    session_id = events[-1].result.session_id  # type: ignore[union-attr]
    assert Agent.load_session(session_id, session_dir=sessions).todos == todos[1]
