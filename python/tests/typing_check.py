"""Checked by `mypy --strict` (scripts/test.sh), never run: the stubs narrow `event.type`
comparisons to the event classes and type structured output from the schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, List, Literal, Optional

from pydantic import BaseModel
from typing_extensions import assert_never, assert_type

from harnext import (
    Agent,
    CancelToken,
    Decision,
    HarnextError,
    PermissionRequest,
    RunInterrupted,
    RunResult,
    ToolStatus,
    builtin_tools,
    tool,
)


class Review(BaseModel):
    risk: str
    summary: str


@tool(read_only=True)
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny in {city}"


def decide(req: PermissionRequest) -> Decision:
    return Decision("deny", message="no") if req.tool == "bash" else Decision("allow")


async def adecide(req: PermissionRequest) -> Literal["allow", "deny"]:
    return "allow"


agent = Agent(
    "anthropic/claude-sonnet-4-5",
    cwd=".",
    tools=[*builtin_tools, get_weather],
    permission_mode="manual",
    on_permission_request=decide,
    thinking={"budget_tokens": 2048},
    system_prompt={"append": "Be brief."},
    mcp_servers={"fs": {"command": "node", "args": ["server.js"], "tool_timeout_ms": 60000, "sandbox": False}},
)
Agent("scripted", on_permission_request=adecide, script=[{"text": "hi", "tool_calls": [{"name": "bash"}]}])
Agent(
    "scripted",
    stream_timeout_ms=600_000,
    sandbox="read-only",
    network=False,
    writable_roots=["build", Path("/var/tmp")],
    deny_read=["secrets"],
    env_allow=["GITHUB_TOKEN"],
    env_deny=["AWS_*"],
    sandbox_best_effort=True,
)
assert_type(agent.sandbox_status().enforced, Literal["workspace-write", "read-only", "off"])

r0 = agent.run("x")
assert_type(r0, RunResult[None])
r1 = agent.run("x", output_schema=Review)
assert_type(r1.output, Review)
r2 = agent.run([{"role": "user", "content": "x"}], output_schema={"type": "object"}, cancel=CancelToken())
assert_type(r2.output, Any)
err: Optional[HarnextError] = r0.error
statuses: List[ToolStatus] = [s.status for s in r0.steps]


def describe(agent: Agent) -> str:
    for event in agent.stream("Migrate the config loader to TOML"):
        if event.type == "text":
            assert_type(event.text, str)
        elif event.type == "thinking":
            pass
        elif event.type == "tool_call":
            assert_type(event.args, dict[str, Any])
        elif event.type == "tool_result":
            assert_type(event.status, ToolStatus)
        elif event.type == "permission_request":
            event.respond({"behavior": "allow", "remember": True})
        elif event.type == "usage":
            assert_type(event.input_tokens, int)
            assert_type(event.unreported, bool)
        elif event.type == "run_start":
            assert_type(event.session_id, str)
        elif event.type == "retry":
            pass
        elif event.type == "compaction":
            pass
        elif event.type == "mcp_server_error":
            pass
        elif event.type == "mcp_warning":
            assert_type(event.tool, Optional[str])
        elif event.type == "warning":
            assert_type(event.path, Optional[str])
        elif event.type == "todo":
            for item in event.todos:
                status: Literal["pending", "in_progress", "completed"] = item.status
                print(item.content, status)
        elif event.type == "error":
            code: str = event.error.code
            print(code)
        elif event.type == "run_end":
            assert_type(event.result, RunResult[None])
            if event.result.stop_reason == "refusal" and event.result.stop_details is not None:
                assert_type(event.result.stop_details.category, Optional[str])
            assert_type(event.result.usage.unreported, bool)
        else:
            assert_never(event)
    return ""


async def main() -> None:
    result = await agent.arun("x", output_schema=Review)
    assert_type(result.output, Review)
    async for event in agent.astream("x"):
        if event.type == "run_end":
            assert_type(event.result.cancelled, bool)
    async with Agent("scripted") as a:
        await a.arun("y")
    with Agent("scripted") as b:
        b.run("z")
    try:
        b.run("Long refactor")
    except RunInterrupted as interrupt:
        assert_type(interrupt.result.cancelled, bool)
        assert isinstance(interrupt, KeyboardInterrupt)


asyncio.run(main())


# ---- images (issue 18) ----
def images(agent: Agent) -> None:
    from harnext import ImagePart, Message

    part: ImagePart = {"type": "image", "data": b"...", "media_type": "image/png"}
    messages: List[Message] = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image", "path": "shot.png"}, part, {"type": "image", "url": "https://example.com/a.png"}]},
    ]
    agent.run(messages)
    bad: ImagePart = {"type": "image", "data": "AA==", "media_type": "image/tiff"}  # type: ignore[typeddict-item]
    del bad
