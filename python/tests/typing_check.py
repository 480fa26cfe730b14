"""Checked by `mypy --strict` (scripts/test.sh), never run: the stubs narrow `event.type`
comparisons to the event classes and type structured output from the schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional

from pydantic import BaseModel
from typing_extensions import assert_never, assert_type

from harnext import (
    Agent,
    AsyncRunStream,
    PendingApproval,
    RunStream,
    CancelToken,
    Decision,
    HarnextError,
    PermissionRequest,
    RunInterrupted,
    RunResult,
    SessionInfo,
    SessionStore,
    ToolStatus,
    builtin_tools,
    tool,
)

if TYPE_CHECKING:
    from harnext import (
        HookName,
        PostToolUseInput,
        PreToolUseAnswer,
        PreToolUseInput,
        StopAnswer,
        StopInput,
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
    agents={"reviewer": {"description": "Reviews", "system_prompt": "You review.", "tools": ["read_file"], "max_steps": 3}},
    tracing={"record_content": True},
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


# Server-side web search (issue 18): True or settings, per agent and per run.
searching = Agent(
    "anthropic/claude-sonnet-4-5",
    web_search={"max_uses": 3, "allowed_domains": ["docs.python.org"], "user_location": {"country": "US"}},
)
searching.run("news", web_search=False)
assert_type(searching.run("news").usage.web_search_requests, int)
Agent("anthropic/claude-sonnet-4-5", web_search={"max_use": 3})  # type: ignore[arg-type]


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
            assert_type(event.cost_usd, Optional[float])
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
        elif event.type == "user_message":
            assert_type(event.text, str)
        elif event.type == "hook_error":
            assert_type(event.hook, HookName)
        elif event.type == "warning":
            assert_type(event.path, Optional[str])
        elif event.type == "todo":
            for item in event.todos:
                status: Literal["pending", "in_progress", "completed"] = item.status
                print(item.content, status)
        elif event.type == "web_search":
            ws: Literal["searching", "completed", "failed"] = event.status
            assert_type(event.query, Optional[str])
            for page in event.results:
                assert_type(page.url, str)
                assert_type(page.page_age, Optional[str])
            print(ws, event.error)
        elif event.type == "citation":
            assert_type(event.cited_text, Optional[str])
            assert_type(event.title, Optional[str])
        elif event.type == "error":
            code: str = event.error.code
            print(code)
        elif event.type == "run_end":
            assert_type(event.result, RunResult[None])
            if event.result.stop_reason == "refusal" and event.result.stop_details is not None:
                assert_type(event.result.stop_details.category, Optional[str])
            assert_type(event.result.usage.unreported, bool)
        elif event.type == "subagent":
            assert_type(event.call_id, str)
            if event.event.type == "tool_call":
                assert_type(event.event.tool, str)
        else:
            assert_never(event)
    return ""



# Rewind (issue 17): the typed result.
from harnext import RewindResult  # noqa: E402


def rewind_usage(a: Agent, session_id: str) -> None:
    back: RewindResult = a.rewind(session_id, to_message=2)
    assert_type(back.restored, List[str])
    assert_type(back.not_restored[0].reason, str)
    forked = a.rewind(session_id, to_message=0, fork=True)
    assert_type(forked.session_id, str)
    a.rewind(session_id)  # type: ignore[call-arg]


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
    # Issue 17: an astream steered while it works; agent.send/interrupt for an arun task.
    stream = a.astream("x", max_tokens=1000, parallel_tool_calls=False)
    assert_type(stream, AsyncRunStream[None])
    async for event in stream:
        if event.type == "run_start":
            stream.send("Also add tests.", urgent=True)
            a.send(event.session_id, "And docs.")
            a.interrupt(event.session_id)
        if event.type == "hook_error":
            stream.interrupt("Stop and summarise.")
    await stream.aclose()


# ---- issues 17 and 19: hooks, budgets, steering, stores, deferred approvals ----------


def guard(input: PreToolUseInput) -> Optional[PreToolUseAnswer]:
    assert_type(input["args"], dict[str, Any])
    if input["tool"] == "bash":
        return {"decision": "deny", "message": "No shell."}
    return None


async def audit(input: PostToolUseInput) -> None:
    assert_type(input["status"], Literal["ok", "error"])


def again(input: StopInput) -> Optional[StopAnswer]:
    return {"decision": "continue", "message": "Run the tests."} if input["continued"] == 0 else None


steered = Agent(
    "anthropic/claude-sonnet-4-5",
    session_store="postgres://harnext@127.0.0.1/harnext",
    hooks={
        "pre_tool_use": [guard, lambda i: "allow" if i["tool"] == "read_file" else None],
        "post_tool_use": audit,
        "stop": again,
        "user_prompt_submit": lambda i: {"decision": "block", "reason": "no"} if "secret" in i["input"] else None,
        "session_start": lambda i: {"context": f"Started ({i['source']})."},
        "timeout_ms": 5000,
    },
    parallel_tool_calls=True,
    max_cost_usd=2.5,
    max_tokens=200_000,
    max_duration_ms=600_000,
    permission_mode="manual",
    on_permission_request=lambda req: Decision("defer") if req.tool == "bash" else "allow",
)
r3 = steered.run("x", max_cost_usd=0.5, max_duration_ms=1000)
assert_type(r3.cost_usd, Optional[float])
if r3.stop_reason == "awaiting_approval":
    waiting: List[PendingApproval] = r3.pending_approvals
    r4 = steered.run(approvals={p.id: "allow" for p in waiting}, session_id=r3.session_id)
    assert_type(r4, RunResult[None])
    steered.run(approvals={"call_1": Decision("deny", message="Not now.")}, session_id=r3.session_id)
    steered.run(approvals={"call_1": {"behavior": "allow", "remember": True}}, session_id=r3.session_id)
s1 = steered.stream("x")
assert_type(s1, RunStream[None])
for ev in s1:
    if ev.type == "tool_call":
        s1.send("Use pytest.")
        s1.interrupt()
steered.send("sess_x", "Be brief.", urgent=False)
steered.interrupt("sess_x", "Stop.")
loaded = Agent.load_session("sess_x", session_store="redis://127.0.0.1:6379")
assert_type(loaded.pending_approvals, List[PendingApproval])
Agent.list_sessions(session_store="redis://127.0.0.1:6379")
Agent.fork_session("sess_x", at_message=2, session_store="redis://127.0.0.1:6379")


# Issue 19: a session store of your own, sync or async.
class DictStore:
    timeout_ms = 5000

    def __init__(self) -> None:
        self.sessions: Dict[str, List[Dict[str, Any]]] = {}

    def acquire(self, session_id: str) -> Optional[str]:
        return "lease"

    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> None:
        self.sessions.setdefault(session_id, []).extend(records)

    def release(self, session_id: str, lease: str) -> None:
        pass

    def load(self, session_id: str) -> Optional[List[Dict[str, Any]]]:
        return self.sessions.get(session_id)

    def list(self) -> List[str]:
        return list(self.sessions)


class AsyncStore:
    async def acquire(self, session_id: str) -> Optional[str]:
        return None

    async def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> None:
        pass

    async def release(self, session_id: str, lease: str) -> None:
        pass

    async def load(self, session_id: str) -> Optional[List[str]]:
        return None

    async def list(self) -> List[str]:
        return []


mine: SessionStore = DictStore()
Agent(model="scripted", session_store=mine)
Agent(model="scripted", session_store=AsyncStore())
assert_type(Agent.list_sessions(session_store=DictStore()), List[SessionInfo])
Agent.load_session("sess_x", session_store=AsyncStore())
Agent.fork_session("sess_x", session_store=mine)


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
