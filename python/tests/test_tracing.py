"""OpenTelemetry spans (GenAI semantic conventions) of runs, model calls and tool calls,
checked with the OpenTelemetry SDK's InMemorySpanExporter. The tests give their provider
with ``tracing={"tracer_provider": ...}``, leaving the process's global one alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harnext import Agent

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402


def two_tools() -> List[Dict[str, Any]]:
    return [
        {"text": "Looking.", "toolCalls": [{"id": "c1", "name": "read_file", "args": {"path": "a.txt"}},
                                           {"id": "c2", "name": "glob", "args": {"pattern": "*.txt"}}],
         "usage": {"inputTokens": 11, "outputTokens": 3}},
        {"text": "Found it.", "usage": {"inputTokens": 22, "outputTokens": 4}},
    ]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def provider(exporter: InMemorySpanExporter) -> Any:
    p = sdk_trace.TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def agent(workspace: Path, tracing: Any, **extra: Any) -> Agent:
    (workspace / "a.txt").write_text("secret-content\n")
    options: Dict[str, Any] = {"script": two_tools(), **extra}
    return Agent("scripted", cwd=workspace, persist_session=False, tracing=tracing, **options)


def test_without_a_provider_nothing_is_traced(workspace: Path) -> None:
    from harnext import _tracing
    from opentelemetry import trace

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "no global provider in this process"
    assert _tracing.tracer_for(None) is None and _tracing.tracer_for(True) is None
    assert agent(workspace, None).run("Find it").success


def test_the_span_tree_of_a_run_with_two_tools(workspace: Path, exporter: InMemorySpanExporter) -> None:
    events = list(agent(workspace, {"tracer_provider": provider(exporter)}).stream("Find it"))
    result = events[-1].result
    assert result.success
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == [
        "chat scripted", "chat scripted", "execute_tool glob", "execute_tool read_file", "invoke_agent harnext",
    ]
    root = next(s for s in spans if s.name == "invoke_agent harnext")
    assert root.parent is None
    for s in spans:
        if s is not root:
            assert s.parent is not None and s.parent.span_id == root.context.span_id, s.name
        assert s.start_time >= root.start_time and s.end_time <= root.end_time
    attrs = root.attributes
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.request.model"] == "scripted"
    assert attrs["gen_ai.conversation.id"] == result.session_id
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (33, 7)
    assert root.status.status_code == StatusCode.OK
    chats = sorted((s for s in spans if s.name == "chat scripted"), key=lambda s: s.attributes["gen_ai.usage.input_tokens"])
    assert [s.attributes["gen_ai.operation.name"] for s in chats] == ["chat", "chat"]
    assert [s.attributes["gen_ai.usage.output_tokens"] for s in chats] == [3, 4]
    assert [tuple(s.attributes["gen_ai.response.finish_reasons"]) for s in chats] == [("tool_calls",), ("stop",)]
    tools = [s for s in spans if s.name.startswith("execute_tool")]
    assert sorted(s.attributes["gen_ai.tool.name"] for s in tools) == ["glob", "read_file"]
    for s in tools:
        assert s.attributes["gen_ai.operation.name"] == "execute_tool"
        assert s.attributes["harnext.tool.status"] == "ok"
        assert s.end_time <= chats[1].start_time + 1_000_000
    for s in spans:
        assert not any(k.endswith(("messages", "arguments", "result")) for k in s.attributes), s.name
        assert "secret-content" not in str(dict(s.attributes))


def test_run_is_traced_and_record_content_adds_the_io(workspace: Path, exporter: InMemorySpanExporter) -> None:
    a = agent(workspace, {"tracer_provider": provider(exporter), "record_content": True}, script=[
        {"toolCalls": [{"id": "c1", "name": "read_file", "args": {"path": "a.txt"}},
                       {"id": "c2", "name": "read_file", "args": {"path": "missing.txt"}}]},
        {"text": "Done."},
    ])
    assert a.run("Read both").success
    spans = exporter.get_finished_spans()
    root = next(s for s in spans if s.name == "invoke_agent harnext")
    assert "Read both" in root.attributes["gen_ai.input.messages"]
    assert "Done." in root.attributes["gen_ai.output.messages"]
    ok = next(s for s in spans if s.attributes.get("gen_ai.tool.call.id") == "c1")
    assert "secret-content" in ok.attributes["gen_ai.tool.call.result"]
    failed = next(s for s in spans if s.attributes.get("gen_ai.tool.call.id") == "c2")
    assert failed.status.status_code == StatusCode.ERROR


def test_arun_is_traced_and_tracing_false_is_off(workspace: Path, exporter: InMemorySpanExporter) -> None:
    result = asyncio.run(agent(workspace, {"tracer_provider": provider(exporter)}).arun("Find it"))
    assert result.success
    assert len(exporter.get_finished_spans()) == 5
    assert agent(workspace, False).run("Find it").success
    assert len(exporter.get_finished_spans()) == 5
    with pytest.raises(TypeError, match="invalid option `tracing`: unknown field 'record_contents'"):
        Agent("scripted", script=[], tracing={"record_contents": True})
