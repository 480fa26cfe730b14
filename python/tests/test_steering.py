"""Steering a run from Python (issue 17), as __test__/steering.test.mjs does from Node:
budgets, hooks (sync, async, raising, each hook's actions), parallel read-only calls,
messages sent while a run works and interrupts, on the scripted model and the mock
provider."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from harnext import Agent, Decision, HookErrorEvent, PermissionRequest, RunEndEvent, RunResult, tool

from conftest import Mock


def bash_turn(usage: Dict[str, int], command: str = "true") -> Dict[str, Any]:
    return {"tool_calls": [{"name": "bash", "args": {"command": command}}], "usage": usage}


def scripted(workspace: Path, script: List[Dict[str, Any]], **extra: Any) -> Agent:
    return Agent("scripted", script=script, cwd=workspace, persist_session=False, **extra)


def last_result(events: List[Any]) -> RunResult[Any]:
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    return end.result


# ---- budgets -------------------------------------------------------------------------


def test_max_cost_usd_stops_the_run_after_the_step_that_reaches_it_with_cost_usd(mock: Mock, workspace: Path) -> None:
    mock.push({"turn": {"toolCalls": [{"name": "bash", "args": {"command": "true"}}], "usage": {"inputTokens": 100_000}}, "times": 10})
    agent = Agent(
        "anthropic/claude-sonnet-4-5", base_url=mock.url, api_key="k", cwd=workspace, persist_session=False, max_cost_usd=0.5
    )
    events = list(agent.stream("loop"))
    result = last_result(events)
    assert result.stop_reason == "cost_budget"
    assert result.success is False
    assert result.error is not None and result.error.code == "cost_budget"
    assert "`max_cost_usd`" in result.error.message
    assert result.cost_usd is not None and abs(result.cost_usd - 0.6) < 1e-9, result.cost_usd
    usage = [e for e in events if e.type == "usage"]
    assert len(usage) == 2
    for u in usage:
        assert u.cost_usd is not None and abs(u.cost_usd - 0.3) < 1e-9


def test_max_tokens_run_option_over_the_agent_and_max_duration_ms_each_stop_a_run(workspace: Path) -> None:
    script = [bash_turn({"input_tokens": 100, "output_tokens": 10}, "sleep 0.05") for _ in range(10)]
    agent = scripted(workspace, script, max_tokens=10_000)
    r = agent.run("loop", max_tokens=200)
    assert r.stop_reason == "token_budget"
    assert r.error is not None and r.error.code == "token_budget"
    assert len(r.steps) == 2, "110, then 220 >= 200 tokens"
    assert r.cost_usd is None, "the scripted model has no price: no cost, not zero"
    t = agent.run("loop", max_duration_ms=60)
    assert t.stop_reason == "time_budget"
    assert t.success is False
    assert t.duration_ms >= 60
    assert 1 <= len(t.steps) <= 2, len(t.steps)
    # The agent's own budget applies when the run gives none.
    small = scripted(workspace, script, max_tokens=100).run("loop")
    assert small.stop_reason == "token_budget" and len(small.steps) == 1


def test_budget_options_are_checked_by_name_type_and_value(workspace: Path) -> None:
    with pytest.raises(TypeError, match=r"did you mean `max_cost_usd`\?"):
        Agent("scripted", max_cost_USD=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"invalid option `max_cost_usd`: the price of \"scripted\" is not known"):
        Agent("scripted", max_cost_usd=1)
    with pytest.raises(TypeError, match=r"invalid option `max_tokens`: expected an int >= 1, got float 1.5"):
        Agent("scripted", max_tokens=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"invalid option `max_cost_usd`: expected a positive number of US dollars, got -1"):
        Agent("anthropic/claude-sonnet-4-5", api_key="k", max_cost_usd=-1)
    with pytest.raises(TypeError, match=r"invalid option `max_cost_usd`: expected a number of US dollars, got bool"):
        Agent("anthropic/claude-sonnet-4-5", api_key="k", max_cost_usd=True)
    with pytest.raises(TypeError, match=r"invalid option `max_duration_ms`: expected an int >= 1, got str 'soon'"):
        Agent("scripted", max_duration_ms="soon")  # type: ignore[arg-type]
    agent = scripted(workspace, [{"text": "hi"}])
    with pytest.raises(TypeError, match=r"did you mean `max_duration_ms`\?"):
        agent.run("x", max_duration_MS=5)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"invalid option `max_cost_usd`: the price of \"scripted\""):
        agent.run("x", max_cost_usd=1)
    with pytest.raises(ValueError, match=r"invalid option `max_tokens`: expected an int >= 1, got 0"):
        agent.run("x", max_tokens=0)


# ---- hooks ---------------------------------------------------------------------------


def test_a_pre_tool_use_hook_denies_bash_with_a_message_the_model_reads_an_async_hook_rewrites_args(
    mock: Mock, workspace: Path
) -> None:
    mock.push(
        {
            "turn": {
                "toolCalls": [
                    {"id": "b1", "name": "bash", "args": {"command": "touch pwned"}},
                    {"id": "w1", "name": "write_file", "args": {"path": "a.txt", "content": "x"}},
                ]
            }
        },
        {"turn": {"text": "ok"}},
    )
    seen: List[Dict[str, Any]] = []

    def deny_bash(input: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        seen.append(input)
        return {"decision": "deny", "message": "No shell: use the file tools."} if input["tool"] == "bash" else None

    async def rename(input: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        await asyncio.sleep(0.01)
        return {"args": {**input["args"], "path": "b.txt"}} if input["tool"] == "write_file" else None

    agent = Agent(
        "anthropic/claude-test",
        base_url=mock.url,
        api_key="k",
        cwd=workspace,
        persist_session=False,
        hooks={"pre_tool_use": [deny_bash, rename]},
    )
    r = agent.run("go")
    assert r.success
    assert r.steps[0].status == "denied"
    assert r.steps[0].output == "No shell: use the file tools."
    assert r.steps[1].args["path"] == "b.txt"
    assert (workspace / "b.txt").read_text() == "x"
    assert not (workspace / "a.txt").exists() and not (workspace / "pwned").exists()
    sent = json.dumps(mock.requests()[-1]["body"]["messages"])
    assert "No shell: use the file tools." in sent
    assert seen[0] == {"event": "pre_tool_use", "session": r.session_id, "id": "b1", "tool": "bash", "args": {"command": "touch pwned"}}


def test_a_raising_hook_is_a_hook_error_pre_tool_use_fails_closed_post_tool_use_open(workspace: Path) -> None:
    def policy(input: Dict[str, Any]) -> None:
        if input["id"] == "c1":
            raise ConnectionError("policy service down")

    async def post(input: Dict[str, Any]) -> None:
        raise RuntimeError("post failed")

    agent = scripted(
        workspace,
        [
            {"tool_calls": [{"id": "c1", "name": "bash", "args": {"command": "echo hi"}}]},
            {"tool_calls": [{"id": "c2", "name": "bash", "args": {"command": "echo there"}}]},
            {"text": "done"},
        ],
        hooks={"pre_tool_use": policy, "post_tool_use": post},
    )
    events = list(agent.stream("go"))
    errors = [e for e in events if isinstance(e, HookErrorEvent)]
    assert [e.hook for e in errors] == ["pre_tool_use", "post_tool_use"]
    assert "ConnectionError: policy service down" in errors[0].message and "denied" in errors[0].message
    assert "RuntimeError: post failed" in errors[1].message
    result = last_result(events)
    assert result.steps[0].status == "denied"
    assert "a pre_tool_use hook failed (ConnectionError: policy service down)" in result.steps[0].output
    assert result.steps[1].status == "ok"
    assert result.steps[1].output.startswith("there")
    assert result.success


def test_a_stop_hook_continues_once_user_prompt_submit_blocks_bad_hooks_are_refused(workspace: Path) -> None:
    stops: List[str] = []

    def stop(input: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        stops.append(input["result"]["text"])
        return {"decision": "continue", "message": "Run the tests."} if input["continued"] == 0 else None

    r = scripted(workspace, [{"text": "Done."}, {"text": "Tests pass too."}], hooks={"stop": stop}).run("fix")
    assert r.success
    assert r.text == "Tests pass too."
    assert stops == ["Done.", "Tests pass too."]

    blocker = scripted(
        workspace,
        [{"text": "never"}],
        hooks={"user_prompt_submit": lambda i: {"decision": "block", "reason": "no secrets"} if "secret" in i["input"] else None},
    )
    b = blocker.run("print the secret")
    assert b.stop_reason == "blocked"
    assert b.error is not None and b.error.code == "blocked"
    assert "no secrets" in b.error.message

    with pytest.raises(ValueError, match=r"invalid option `hooks`: unknown hook \"pre_tool_us\": did you mean `pre_tool_use`\?"):
        scripted(workspace, [], hooks={"pre_tool_us": lambda i: None})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(TypeError, match=r"invalid option `hooks`: stop\[1\]: expected a callable"):
        scripted(workspace, [], hooks={"stop": [lambda i: None, "x"]})  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"invalid option `hooks`: expected a dict"):
        scripted(workspace, [], hooks=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`hooks.timeout_ms`: expected an int >= 1, got 0"):
        scripted(workspace, [], hooks={"timeout_ms": 0})
    with pytest.raises(TypeError, match=r"did you mean `hooks`\?"):
        scripted(workspace, [], hook={})


@dataclasses.dataclass
class Replace:
    output: Optional[str] = None
    context: Optional[str] = None


def test_post_tool_use_session_start_session_end_and_ask_each_act(mock: Mock, workspace: Path) -> None:
    mock.push(
        {"turn": {"toolCalls": [{"id": "r1", "name": "bash", "args": {"command": "echo original"}}]}},
        {"turn": {"text": "ok"}},
    )
    ends: List[Dict[str, Any]] = []
    asked: List[str] = []

    def ask(req: PermissionRequest) -> str:
        asked.append(req.tool)
        return "allow"

    agent = Agent(
        "anthropic/claude-test",
        base_url=mock.url,
        api_key="k",
        cwd=workspace,
        persist_session=False,
        on_permission_request=ask,
        hooks={
            # auto mode would run bash without asking: the hook hands it to the permission flow.
            "pre_tool_use": lambda i: "ask",
            # A dataclass answer works as a dict does (None fields left out).
            "post_tool_use": lambda i: Replace(output="REPLACED " + i["output"].strip(), context="Note: checked."),
            "session_start": lambda i: {"context": f"Session source: {i['source']}."},
            "session_end": ends.append,
        },
    )
    r = agent.run("go")
    assert r.success, r.error
    assert asked == ["bash"]
    assert r.steps[0].output.startswith("REPLACED original")
    assert ends == [{"event": "session_end", "session": r.session_id, "reason": "end_turn"}]
    requests = mock.requests()
    assert "Session source: new." in json.dumps(requests[0]["body"]["messages"])
    last = json.dumps(requests[-1]["body"]["messages"])
    assert "REPLACED original" in last and "Note: checked." in last


# ---- parallel tool calls -------------------------------------------------------------


class Counting:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.in_flight = 0
        self.most = 0

    def tool(self, read_only: bool) -> Any:
        @tool(name="lookup", read_only=read_only)
        def lookup(n: int) -> str:
            """Looks n up."""
            with self.cond:
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
                self.cond.notify_all()
                # Concurrent calls meet here (all 8 at once); one by one, each waits 0.5 s.
                self.cond.wait_for(lambda: self.most == 8, timeout=0.5)
            # Later calls finish first.
            time.sleep((8 - n) * 0.01)
            with self.cond:
                self.in_flight -= 1
            return f"looked up {n}"

        return lookup


def eight() -> List[Dict[str, Any]]:
    return [{"tool_calls": [{"id": f"c{n}", "name": "lookup", "args": {"n": n}} for n in range(8)]}, {"text": "done"}]


def test_read_only_calls_of_a_turn_run_concurrently_in_call_order_parallel_tool_calls_false_one_by_one(workspace: Path) -> None:
    c = Counting()
    r = scripted(workspace, eight(), tools=[c.tool(True)]).run("go")
    assert r.success, r.error
    assert c.most == 8
    assert [s.output for s in r.steps] == [f"looked up {n}" for n in range(8)]

    off = Counting()
    r2 = scripted(workspace, eight(), tools=[off.tool(True)], parallel_tool_calls=False).run("go")
    assert r2.success and off.most == 1
    run = Counting()
    scripted(workspace, eight(), tools=[run.tool(True)]).run("go", parallel_tool_calls=False)
    assert run.most == 1, "the run option overrides the agent option"
    writing = Counting()
    scripted(workspace, eight(), tools=[writing.tool(False)]).run("go")
    assert writing.most == 1, "calls that may write keep their order"
    with pytest.raises(TypeError, match=r"did you mean `parallel_tool_calls`\?"):
        scripted(workspace, [], parallel_tool_call=False)


# ---- messages while it works, interrupts ---------------------------------------------


def test_stream_send_reaches_the_next_model_request_and_interrupt_stops_a_sleep_and_goes_on(mock: Mock, workspace: Path) -> None:
    mock.push(
        {"turn": {"toolCalls": [{"id": "s1", "name": "bash", "args": {"command": "sleep 0.3"}}]}},
        {"turn": {"toolCalls": [{"id": "s2", "name": "bash", "args": {"command": "sleep 30"}}]}},
        {"turn": {"text": "Hi."}},
    )
    agent = Agent("anthropic/claude-test", base_url=mock.url, api_key="k", cwd=workspace, persist_session=False)
    stream = agent.stream("work")
    events = []
    interrupted_at = 0.0
    stopped_after = -1.0

    def interrupt() -> None:
        nonlocal interrupted_at
        interrupted_at = time.monotonic()
        stream.interrupt("Forget it; say hi.")

    for e in stream:
        events.append(e)
        if e.type == "tool_call" and e.id == "s1":
            stream.send("Also update the changelog.")
        if e.type == "tool_call" and e.id == "s2":
            threading.Timer(0.05, interrupt).start()
        if e.type == "tool_result" and e.id == "s2":
            stopped_after = time.monotonic() - interrupted_at
    result = last_result(events)
    assert result.success, result.error
    assert result.text == "Hi."
    assert result.steps[1].status == "cancelled"
    # Not the 30 s of the sleep (the contract's 100 ms is measured in the bench).
    assert 0 <= stopped_after < 5, stopped_after
    assert [e.text for e in events if e.type == "user_message"] == ["Also update the changelog.", "Forget it; say hi."]
    requests = mock.requests()[-2:]
    assert "Also update the changelog." in json.dumps(requests[0]["body"]["messages"])
    assert "Forget it; say hi." in json.dumps(requests[1]["body"]["messages"][-1])
    with pytest.raises(ValueError, match=r"send\(\): the run has ended; continue its session with a new run \(`session_id`\)"):
        stream.send("late")
    with pytest.raises(TypeError, match=r"send\(\): expected a message string, got int 42"):
        stream.send(42)  # type: ignore[arg-type]
    # A stream left early takes no more messages either: none is queued for no one.
    left = scripted(workspace, [{"text": "a b c", "delay_ms": 50}]).stream("go")
    for e in left:
        if e.type == "run_start":
            break
    left.close()
    with pytest.raises(ValueError, match="the run has ended"):
        left.send("late")


def sleeping_agent(workspace: Path, started: threading.Event, script: List[Dict[str, Any]]) -> Agent:
    """An agent whose `sleep 30` calls set `started` as they begin (a pre_tool_use hook):
    an interrupt sent then lands inside the step, whatever the machine's load."""

    def mark(input: Dict[str, Any]) -> None:
        if input["args"].get("command") == "sleep 30":
            started.set()

    return Agent("scripted", cwd=workspace, script=script, hooks={"pre_tool_use": mark})


def sleep_turn(call_id: str) -> Dict[str, Any]:
    return {"tool_calls": [{"id": call_id, "name": "bash", "args": {"command": "sleep 30"}}]}


def test_agent_send_and_interrupt_reach_a_run_on_another_thread_the_session_goes_on(workspace: Path) -> None:
    started = threading.Event()
    agent = sleeping_agent(
        workspace, started, [{"text": "Hello."}, sleep_turn("z1"), {"text": "Short."}, sleep_turn("z2"), {"text": "never"}]
    )
    sid = agent.run("hi").session_id
    out: List[RunResult[None]] = []
    t = threading.Thread(target=lambda: out.append(agent.run("work at length", session_id=sid)))
    t.start()
    assert started.wait(30)
    agent.send(sid, "Then say it briefly.")
    agent.interrupt(sid, "Be brief.")
    t.join(30)
    assert not t.is_alive()
    assert out[0].success, out[0].error
    assert out[0].text == "Short."
    assert [s.status for s in out[0].steps] == ["cancelled"]
    started.clear()
    t = threading.Thread(target=lambda: out.append(agent.run("and now?", session_id=sid)))
    t.start()
    assert started.wait(30)
    agent.interrupt(sid)
    t.join(30)
    assert not t.is_alive()
    assert out[1].cancelled
    with pytest.raises(ValueError, match=r"send\(\): no run of this agent is going on on session"):
        agent.send(sid, "x")
    with pytest.raises(TypeError, match=r"send\(\): expected `urgent` as a bool"):
        agent.send(sid, "x", urgent=1)  # type: ignore[arg-type]
    sent = json.dumps(Agent.load_session(sid).messages)
    assert "Then say it briefly." in sent and "Be brief." in sent


def test_arun_and_astream_are_steered_from_the_event_loop(workspace: Path) -> None:
    started = threading.Event()
    agent = sleeping_agent(
        workspace,
        started,
        [
            {"text": "Hello."},
            sleep_turn("a0"),
            {"text": "Short."},
            {"tool_calls": [{"id": "a1", "name": "bash", "args": {"command": "sleep 1"}}]},
            {"text": "Took it in."},
        ],
    )

    async def main() -> Any:
        sid = (await agent.arun("hi")).session_id
        task = asyncio.create_task(agent.arun("talk", session_id=sid))
        assert await asyncio.to_thread(started.wait, 30)
        agent.interrupt(sid, "Be brief.")
        first = await task
        stream = agent.astream("next", session_id=sid)
        seen = []
        async for e in stream:
            seen.append(e)
            if e.type == "tool_call":
                stream.send("A note.")
        return first, seen

    first, seen = asyncio.run(main())
    assert first.text == "Short."
    assert [e.text for e in seen if e.type == "user_message"] == ["A note."]
    assert last_result(seen).text == "Took it in."


def test_an_urgent_message_keeps_the_calls_not_started_from_running(workspace: Path) -> None:
    agent = scripted(
        workspace,
        [
            {
                "tool_calls": [
                    {"id": "u1", "name": "bash", "args": {"command": "sleep 0.3"}},
                    {"id": "u2", "name": "bash", "args": {"command": "touch later"}},
                ]
            },
            {"text": "ok"},
        ],
    )
    stream = agent.stream("go")
    events = []
    for e in stream:
        events.append(e)
        if e.type == "tool_call" and e.id == "u1":
            stream.send("Stop: nothing more.", urgent=True)
    result = last_result(events)
    assert [s.status for s in result.steps] == ["ok", "cancelled"]
    assert result.steps[1].output.startswith("Not run: the user sent a message")
    assert not (workspace / "later").exists()
    with pytest.raises(TypeError, match=r"send\(\): expected `urgent` as a bool"):
        stream.send("x", urgent="yes")  # type: ignore[arg-type]


def test_a_deferred_decision_ends_the_run_awaiting_approval_and_a_later_run_answers_it(workspace: Path, session_dir: Path) -> None:
    script = [
        {"tool_calls": [{"id": "call_w", "name": "write_file", "args": {"path": "a.txt", "content": "approved\n"}}]},
        {"text": "Finished."},
    ]
    agent = Agent(
        "scripted",
        cwd=workspace,
        session_dir=session_dir,
        script=script,
        permission_mode="manual",
        on_permission_request=lambda req: Decision("defer"),
    )
    first = agent.run("write it")
    assert first.stop_reason == "awaiting_approval" and first.success is False and first.error is None
    assert [(p.id, p.tool, p.args) for p in first.pending_approvals] == [("call_w", "write_file", {"path": "a.txt", "content": "approved\n"})]
    assert [p.id for p in Agent.load_session(first.session_id, session_dir=session_dir).pending_approvals] == ["call_w"]
    with pytest.raises(ValueError, match="waits for approvals of call_w"):
        agent.run("something else", session_id=first.session_id)
    with pytest.raises(TypeError, match="give the input or `approvals`, not both"):
        agent.run("x", approvals={"call_w": "allow"}, session_id=first.session_id)
    with pytest.raises(TypeError, match="missing the input"):
        agent.run(session_id=first.session_id)
    with pytest.raises(ValueError, match=r"\"defer\" is not an answer"):
        agent.run(approvals={"call_w": "defer"}, session_id=first.session_id)
    with pytest.raises(ValueError, match="give its `session_id`"):
        agent.run(approvals={"call_w": "allow"})
    answered = Agent("scripted", cwd=workspace, session_dir=session_dir, script=[{"text": "Finished."}])
    second = answered.run(approvals={"call_w": Decision("allow")}, session_id=first.session_id)
    assert second.success, second.error
    assert second.text == "Finished."
    assert (workspace / "a.txt").read_text() == "approved\n"
    assert Agent.load_session(first.session_id, session_dir=session_dir).pending_approvals == []
    with pytest.raises(ValueError, match="no tool calls waiting for approval"):
        answered.run(approvals={"call_w": "allow"}, session_id=first.session_id)


def test_respond_defer_in_a_stream_leaves_the_call_waiting_in_the_session(workspace: Path, session_dir: Path) -> None:
    agent = Agent(
        "scripted",
        cwd=workspace,
        session_dir=session_dir,
        permission_mode="manual",
        script=[{"tool_calls": [{"id": "call_b", "name": "bash", "args": {"command": "echo later > b.txt"}}]}],
    )
    events = []
    for e in agent.stream("go"):
        events.append(e)
        if e.type == "permission_request":
            e.respond(Decision("defer"))
    result = last_result(events)
    assert result.stop_reason == "awaiting_approval"
    assert [p.id for p in result.pending_approvals] == ["call_b"]
    assert not (workspace / "b.txt").exists()
    data = Agent.load_session(result.session_id, session_dir=session_dir)
    assert [(p.id, p.tool) for p in data.pending_approvals] == [("call_b", "bash")]
    later = Agent("scripted", cwd=workspace, session_dir=session_dir, script=[{"text": "Done."}])
    ends = [e for e in later.stream(approvals={"call_b": "allow"}, session_id=result.session_id) if e.type == "run_end"]
    assert ends[0].result.success and ends[0].result.text == "Done."
    assert (workspace / "b.txt").read_text() == "later\n"


def test_an_async_hook_of_an_arun_runs_on_that_run_s_event_loop(workspace: Path) -> None:
    loops: List[Any] = []

    async def hook(input: Dict[str, Any]) -> Dict[str, Any]:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        return {"context": "Checked on the loop."}

    agent = scripted(
        workspace,
        [{"tool_calls": [{"id": "l1", "name": "bash", "args": {"command": "echo x"}}]}, {"text": "ok"}],
        hooks={"post_tool_use": hook, "session_start": hook},
    )

    async def main() -> Any:
        return asyncio.get_running_loop(), await agent.arun("go")

    loop, result = asyncio.run(main())
    assert result.success, result.error
    assert loops == [loop, loop]
    assert result.steps[0].output.endswith("Checked on the loop.")
