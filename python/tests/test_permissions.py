"""Permissions in the manual modes: on_permission_request (sync or async) for run() and
stream(), event.respond() inside the loop, decisions as strings, dicts or Decision."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harnext import Agent, Decision, PermissionRequest, PermissionRequestEvent

CALLS = [
    {"name": "bash", "args": {"command": "echo one > a.txt"}},
    {"name": "write_file", "args": {"path": "b.txt", "content": "b"}},
    {"name": "bash", "args": {"command": "echo three > c.txt"}},
]


def agent_for(cwd: Path, **extra: Any) -> Agent:
    script: List[Dict[str, Any]] = [{"tool_calls": CALLS}, {"text": "done"}]
    return Agent("scripted", script=script, cwd=cwd, permission_mode="manual", **extra)


def test_a_sync_callback_answers_in_run(workspace: Path) -> None:
    seen: List[PermissionRequest] = []

    def decide(req: PermissionRequest) -> Any:
        seen.append(req)
        if req.tool == "write_file":
            return {"behavior": "deny", "message": "No writes today."}
        return "allow"

    result = agent_for(workspace, on_permission_request=decide).run("go")
    assert [s.status for s in result.steps] == ["ok", "denied", "ok"]
    assert result.steps[1].output == "No writes today."
    assert [r.tool for r in seen] == ["bash", "write_file", "bash"]
    assert (workspace / "a.txt").exists() and not (workspace / "b.txt").exists()


def test_an_async_callback_with_remember_and_rewritten_args(workspace: Path) -> None:
    asked: List[str] = []

    async def decide(req: PermissionRequest) -> Decision:
        asked.append(req.tool)
        await asyncio.sleep(0)
        if req.tool == "write_file":
            return Decision("allow", args={"path": "b2.txt", "content": "rewritten"})
        return Decision("allow", remember=True)

    result = agent_for(workspace, on_permission_request=decide).run("go")
    assert [s.status for s in result.steps] == ["ok", "ok", "ok"]
    assert asked == ["bash", "write_file"]  # bash remembered
    assert (workspace / "b2.txt").read_text() == "rewritten"


def test_a_callback_that_raises_denies_the_call(workspace: Path) -> None:
    def decide(req: PermissionRequest) -> Any:
        raise PermissionError("policy server down")

    result = agent_for(workspace, on_permission_request=decide).run("go")
    assert [s.status for s in result.steps] == ["denied"] * 3
    assert "policy server down" in result.steps[0].output


def test_a_bad_decision_denies_with_the_reason(workspace: Path) -> None:
    result = agent_for(workspace, on_permission_request=lambda req: "maybe").run("go")
    assert result.steps[0].status == "denied" and "maybe" in result.steps[0].output


def test_respond_inside_the_stream_loop(workspace: Path) -> None:
    statuses = []
    for e in agent_for(workspace).stream("go"):
        if e.type == "permission_request":
            assert isinstance(e, PermissionRequestEvent)
            e.respond({"behavior": "deny", "message": "No shell."} if e.tool == "bash" else "allow")
            with pytest.raises(ValueError, match="already answered"):
                e.respond("allow")
        elif e.type == "tool_result":
            statuses.append(e.status)
    assert statuses == ["denied", "ok", "denied"]


def test_respond_in_astream(workspace: Path) -> None:
    async def main() -> List[str]:
        out = []
        async for e in agent_for(workspace).astream("go"):
            if e.type == "permission_request":
                e.respond("allow")
            elif e.type == "tool_result":
                out.append(e.status)
        return out

    assert asyncio.run(main()) == ["ok", "ok", "ok"]
