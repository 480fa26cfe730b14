"""The Python face tried the way hostile servers, hostile models and careless callers try
it (issue 14, as __test__/hostile.test.mjs does for Node): stop reasons with their details,
unreported usage, the total stream deadline, settings refused at construction without
credentials, secrets kept out of events, results and sessions, unknown options with a
"did you mean", reused tool call ids, MCP tool timeouts and warnings."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any, List

import pytest

from harnext import Agent, McpWarningEvent, RunEndEvent, StopDetails, UsageEvent

from conftest import FORMATS, ROOT, Mock


def agent_for(model: str, mock: Mock, cwd: Path, **extra: Any) -> Agent:
    options: dict[str, Any] = {"max_retries": 0, "persist_session": False, **extra}
    return Agent(model, base_url=mock.url, api_key="sk-test-python", cwd=cwd, **options)


@pytest.mark.parametrize("model", FORMATS)
def test_refusal_max_tokens_and_content_filter_are_stop_reasons_with_details(model: str, mock: Mock, workspace: Path) -> None:
    for wire in ("refusal", "max_tokens", "content_filter"):
        if model.startswith("anthropic") and wire == "content_filter":
            continue
        mock.push({"turn": {"text": "I will not."}, "stopReason": wire})
        r = agent_for(model, mock, workspace).run("do it")
        assert r.stop_reason == wire, (model, wire)
        assert r.success is False and r.cancelled is False
        assert r.error is not None and r.error.code == wire
        if wire == "max_tokens":
            assert r.stop_details is None
            # The engine names the option as Python spells it.
            assert "`max_output_tokens`" in r.error.message, r.error.message
        else:
            assert isinstance(r.stop_details, StopDetails), (model, wire)
        if model.startswith("anthropic") and wire == "refusal":
            assert r.stop_details is not None and r.stop_details.category == "cyber"


@pytest.mark.parametrize("model", FORMATS)
def test_usage_a_server_does_not_report_is_marked_unreported(model: str, mock: Mock, workspace: Path) -> None:
    mock.push({"turn": {"text": "hi"}, "noUsage": True})
    events = list(agent_for(model, mock, workspace).stream("hello"))
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert usage and usage[0].unreported is True, model
    end = events[-1]
    assert isinstance(end, RunEndEvent) and end.result.usage.unreported is True
    # A server that reports usage: not unreported.
    mock.push({"turn": {"text": "hi", "usage": {"inputTokens": 3, "outputTokens": 2}}})
    r = agent_for(model, mock, workspace).run("hello")
    assert r.usage.unreported is False and r.usage.input_tokens == 3


def test_stream_timeout_ms_bounds_a_model_call_that_keeps_dripping(mock: Mock, workspace: Path) -> None:
    with pytest.raises(ValueError, match="invalid option `stream_timeout_ms`"):
        agent_for("anthropic/claude-test", mock, workspace, stream_timeout_ms=0)
    with pytest.raises(TypeError, match="invalid option `stream_timeout_ms`"):
        agent_for("anthropic/claude-test", mock, workspace, stream_timeout_ms="1s")
    mock.push({"turn": {"text": "a b c d e f g h i j k l m n o p q r s t"}, "chunkDelayMs": 150})
    r = agent_for("anthropic/claude-test", mock, workspace, stream_timeout_ms=400, idle_timeout_ms=5000).run("drip")
    assert r.success is False
    assert r.error is not None and r.error.code == "timeout", r.error
    assert "`stream_timeout_ms`" in r.error.message, r.error.message


PASSWORD = "p4ss-w0rd-SECRET"
QUERY_KEY = "AIza-query-SECRET-value"
KEY = "sk-ant-api03-python-SECRET-key"


def test_a_malformed_base_url_or_a_header_with_a_line_break_raises_without_credentials() -> None:
    for model in ("anthropic/claude-test", "openai/gpt-test", "openai-chat/gpt-test"):
        with pytest.raises(ValueError) as info:
            Agent(model, api_key="k", base_url=f"ftp://alice:{PASSWORD}@host/?key={QUERY_KEY}")
        message = str(info.value)
        assert message.startswith("invalid option `base_url`: expected an http(s) URL"), message
        assert PASSWORD not in message and QUERY_KEY not in message
        with pytest.raises(ValueError, match="invalid option `headers`: .*line break"):
            Agent(model, api_key="k", headers={"x-team": "a\r\nx-injected: 1"})


def test_a_key_and_url_credentials_echoed_by_the_model_never_reach_events_results_or_sessions(
    mock: Mock, workspace: Path, session_dir: Path
) -> None:
    echo = f"key {KEY} password {PASSWORD} query {QUERY_KEY}"
    mock.push(
        {"turn": {"text": echo, "toolCalls": [{"id": "t1", "name": "bash", "args": {"command": f"echo {KEY}"}}]}},
        {"turn": {"text": f"done {KEY}"}},
    )
    host = urllib.parse.urlparse(mock.url).netloc
    agent = Agent(
        "anthropic/claude-test",
        api_key=KEY,
        base_url=f"http://alice:{PASSWORD}@{host}/?key={QUERY_KEY}",
        cwd=workspace,
        session_dir=session_dir,
    )
    events = list(agent.stream("echo the secrets"))
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    assert end.result.success, end.result.error
    seen = repr(events) + repr(end.result)
    for f in session_dir.iterdir():
        seen += f.read_text()
    for secret in (KEY, PASSWORD, QUERY_KEY):
        assert secret not in seen, secret
    assert end.result.text.startswith("done <redacted>")


def test_unknown_options_raise_with_a_did_you_mean_in_python_spelling(mock: Mock, workspace: Path) -> None:
    with pytest.raises(TypeError) as info:
        Agent("scripted", script=[], permision_mode="read-only")  # type: ignore[call-arg]
    assert str(info.value) == 'unknown option "permision_mode" of an agent: did you mean `permission_mode`?'
    # The JavaScript spelling is pointed to the Python one.
    with pytest.raises(TypeError, match=r"unknown option \"maxSteps\" of an agent: did you mean `max_steps`\?"):
        Agent("scripted", script=[], maxSteps=3)  # type: ignore[call-arg]
    # The options of issues 17 and 19 are taken and checked (an option of the engine this
    # face did not take would be a TypeError "not available in the Python API yet").
    with pytest.raises(ValueError, match=r"invalid option `max_cost_usd`: the price of \"scripted\" is not known"):
        Agent("scripted", script=[], max_cost_usd=1.0)
    agent = Agent("scripted", script=[{"text": "x"}], persist_session=False)
    with pytest.raises(TypeError, match=r"invalid option `parallel_tool_calls`: expected a bool, got str 'no'"):
        agent.run("hi", parallel_tool_calls="no")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"unknown option \"sesion_id\" of a run: did you mean `session_id`\?"):
        agent.run("hi", sesion_id="sess_x")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"did you mean `max_steps`\?"):
        agent.stream("hi", max_step=2)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"did you mean `max_output_retries`\?"):
        agent.astream("hi", max_output_retry=2)  # type: ignore[call-overload]
    # Node's `signal` is `cancel` here.
    with pytest.raises(TypeError, match="`cancel`"):
        agent.run("hi", signal=None)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"`mcp_servers`: `fs`: unknown field \"tool_timeout\": did you mean `tool_timeout_ms`\?"):
        Agent("scripted", script=[], mcp_servers={"fs": {"command": "node", "tool_timeout": 5}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"`fs.tool_timeout_ms`: expected an integer >= 1, got 0"):
        Agent("scripted", script=[], mcp_servers={"fs": {"command": "node", "tool_timeout_ms": 0}})
    with pytest.raises(ValueError, match="max_result_bytes"):
        Agent("scripted", script=[], mcp_servers={"fs": {"url": "http://127.0.0.1:1/mcp", "max_result_bytes": 10}})
    with pytest.raises(ValueError, match=r"`fs.sandbox`: expected a boolean"):
        Agent("scripted", script=[], mcp_servers={"fs": {"command": "node", "sandbox": "no"}})  # type: ignore[typeddict-item]
    # Right ones are accepted.
    Agent(
        "scripted",
        script=[],
        mcp_servers={"fs": {"command": "node", "tool_timeout_ms": 1000, "max_result_bytes": 4096, "sandbox": False}},
    )


def test_a_model_that_reuses_a_tool_call_id_gets_each_permission_request_answered_on_its_own(workspace: Path) -> None:
    agent = Agent(
        "scripted",
        cwd=workspace,
        permission_mode="manual",
        persist_session=False,
        script=[
            {"tool_calls": [{"id": "same", "name": "bash", "args": {"command": "echo one"}}]},
            {"tool_calls": [{"id": "same", "name": "bash", "args": {"command": "echo two"}}]},
            {"text": "done"},
        ],
    )
    statuses: List[str] = []
    for e in agent.stream("run twice"):
        if e.type == "permission_request":
            e.respond("allow")
        elif e.type == "tool_result":
            statuses.append(e.status)
        elif e.type == "run_end":
            assert e.result.success, e.result.error
    assert statuses == ["ok", "ok"]


def test_tool_timeout_ms_ends_a_hung_mcp_call_and_a_bad_tool_is_an_mcp_warning(workspace: Path) -> None:
    agent = Agent(
        "scripted",
        cwd=workspace,
        persist_session=False,
        mcp_servers={
            "fake": {"command": "node", "args": [str(ROOT / "__test__/fixtures/fake-mcp-server.mjs")], "tool_timeout_ms": 300},
            "bad": {
                "command": "node",
                "args": [str(ROOT / "crates/harnext-mcp/tests/fixtures/hostile-mcp-server.mjs"), "bad-schema"],
                "env": {"FAKE_MCP_LOG": str(workspace / "bad.log")},
            },
        },
        script=[{"tool_calls": [{"id": "w1", "name": "mcp__fake__wait", "args": {}}]}, {"text": "done"}],
    )
    with agent:
        events = list(agent.stream("wait"))
    results = [e for e in events if e.type == "tool_result"]
    assert results and results[0].status == "error", results
    warnings = [e for e in events if isinstance(e, McpWarningEvent)]
    assert any(w.server == "bad" and w.tool == "string_schema" for w in warnings), json.dumps([repr(w) for w in warnings])
    types = [e.type for e in events]
    assert types.index("mcp_warning") < types.index("tool_call")
    end = events[-1]
    assert isinstance(end, RunEndEvent) and end.result.success
