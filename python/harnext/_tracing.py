"""OpenTelemetry spans of runs, model calls and tool calls, made from a run's events (the
OpenTelemetry GenAI semantic conventions), through ``opentelemetry-api`` when it is
installed and the application set a tracer provider. Nothing of this runs otherwise: the
check is made once per run, and a run without tracing takes the plain path. The same
spans as the Node face's (``tracing.js``):

- ``invoke_agent harnext`` for the run, a child of the span current when it started;
- under it ``chat <model>`` for each model call (made when its ``usage`` event arrives,
  started when the call began, its finish reason from what followed it) and
  ``execute_tool <tool>`` for each tool call;
- a subagent's run is ``invoke_agent <name>`` under its ``execute_tool task`` span.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, AsyncIterator, Dict, Iterator, Optional

INSTRUMENTATION = "harnext"

FINISH_BY_STOP = {
    "end_turn": "stop",
    "max_tokens": "length",
    "refusal": "refusal",
    "content_filter": "content_filter",
    "cancelled": "cancelled",
    "error": "error",
}


FIELDS = ("record_content", "tracer_provider")


def check(value: Any) -> None:
    """The ``tracing`` option: ``True``, ``False`` or
    ``{"record_content": bool, "tracer_provider": TracerProvider}``."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in FIELDS:
                raise TypeError(f"invalid option `tracing`: unknown field {k!r}: expected some of {', '.join(FIELDS)}")
            if k == "record_content" and v is not None and not isinstance(v, bool):
                raise TypeError("invalid option `tracing`: `record_content` must be a bool")
            if k == "tracer_provider" and v is not None and not callable(getattr(v, "get_tracer", None)):
                raise TypeError("invalid option `tracing`: `tracer_provider` must be an OpenTelemetry TracerProvider")
        return
    raise TypeError(f"invalid option `tracing`: expected a bool or a dict of {', '.join(FIELDS)}, got {type(value).__name__}")


def tracer_for(setting: Any) -> Any:
    """The tracer of a run, or ``None`` when tracing is off (``tracing=False``, no
    ``opentelemetry-api``, or no tracer provider set, given or global)."""
    if setting is False:
        return None
    provider = setting.get("tracer_provider") if isinstance(setting, dict) else None
    if provider is not None:
        return provider.get_tracer(INSTRUMENTATION)
    # An application that set a tracer provider imported the API: without it, nothing is
    # imported here (nothing on a cold start).
    if "opentelemetry.trace" not in sys.modules:
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return trace.get_tracer(INSTRUMENTATION)


def _model_parts(model: str) -> Dict[str, str]:
    prefix, slash, name = model.partition("/")
    if not slash:
        return {"provider": model, "model": model}
    return {"provider": "openai" if prefix == "openai-chat" else prefix, "model": name}


def _text_messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


class _RunTrace:
    def __init__(self, tracer: Any, options: Dict[str, Any], name: str, parent: Any, input: Any = None) -> None:
        from opentelemetry import trace

        self.trace = trace
        self.tracer = tracer
        self.options = options
        self.record = options["record_content"]
        self.model = _model_parts(options["model"])
        self.name = name
        self.parent = parent
        self.input = input
        self.span: Any = None
        self.ctx: Any = parent
        self.boundary = time.time_ns()
        self.pending: Optional[Dict[str, Any]] = None
        self.tools: Dict[str, Any] = {}
        self.nested: Dict[str, "_RunTrace"] = {}
        self.text = ""

    def start(self, e: Any) -> None:
        attributes: Dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": self.name,
            "gen_ai.provider.name": self.model["provider"],
            "gen_ai.request.model": self.model["model"],
            "gen_ai.conversation.id": e.session_id,
        }
        if self.record and self.input is not None:
            attributes["gen_ai.input.messages"] = (
                _text_messages("user", self.input) if isinstance(self.input, str) else json.dumps(self.input, default=str)
            )
        at = time.time_ns()
        self.span = self.tracer.start_span(
            f"invoke_agent {self.name}", context=self.parent, kind=self.trace.SpanKind.INTERNAL, attributes=attributes, start_time=at
        )
        self.ctx = self.trace.set_span_in_context(self.span, self.parent)
        self.boundary = at

    def flush(self, finish: str) -> None:
        p = self.pending
        if p is None:
            return
        self.pending = None
        u = p["usage"]
        attributes: Dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.model["provider"],
            "gen_ai.request.model": self.model["model"],
            "gen_ai.usage.input_tokens": u.input_tokens,
            "gen_ai.usage.output_tokens": u.output_tokens,
            "gen_ai.response.finish_reasons": [finish],
        }
        if getattr(u, "cache_read_tokens", 0):
            attributes["gen_ai.usage.cache_read.input_tokens"] = u.cache_read_tokens
        cost = getattr(u, "cost_usd", None)
        if cost is not None:
            attributes["harnext.cost_usd"] = cost
        # The provider's server-side web searches during the call (web_search=).
        if getattr(u, "web_search_requests", 0):
            attributes["harnext.web_search.requests"] = u.web_search_requests
        if p["summary"]:
            attributes["harnext.model_call"] = "compaction_summary"
        if self.record and p["text"]:
            attributes["gen_ai.output.messages"] = _text_messages("assistant", p["text"])
        span = self.tracer.start_span(
            f"chat {self.model['model']}", context=self.ctx, kind=self.trace.SpanKind.CLIENT, attributes=attributes, start_time=p["start"]
        )
        if finish == "error":
            span.set_status(self.trace.Status(self.trace.StatusCode.ERROR))
        span.end(end_time=p["end"])

    def handle(self, e: Any) -> None:
        at = time.time_ns()
        t = e.type
        if t == "run_start":
            self.start(e)
        elif t == "text":
            self.text += e.text
        elif t == "usage":
            self.flush("stop")
            self.pending = {"start": self.boundary, "end": at, "usage": e, "text": self.text, "summary": False}
            self.text = ""
        elif t == "compaction":
            if self.pending is not None:
                self.pending["summary"] = True
            self.flush("stop")
            self.boundary = at
        elif t == "tool_call":
            self.flush("tool_calls")
            attributes: Dict[str, Any] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": e.tool,
                "gen_ai.tool.call.id": e.id,
                "gen_ai.tool.type": "function",
            }
            if self.record:
                attributes["gen_ai.tool.call.arguments"] = json.dumps(e.args, default=str)
            self.tools[e.id] = self.tracer.start_span(
                f"execute_tool {e.tool}", context=self.ctx, kind=self.trace.SpanKind.INTERNAL, attributes=attributes, start_time=at
            )
        elif t == "tool_result":
            self.boundary = at
            span = self.tools.pop(e.id, None)
            if span is None:
                return
            span.set_attribute("harnext.tool.status", e.status)
            if self.record:
                span.set_attribute("gen_ai.tool.call.result", e.output)
            if e.status == "error":
                span.set_attribute("error.type", "tool_error")
                span.set_status(self.trace.Status(self.trace.StatusCode.ERROR))
            elif e.status == "ok":
                span.set_status(self.trace.Status(self.trace.StatusCode.OK))
            span.end(end_time=at)
        elif t == "subagent":
            sub = self.nested.get(e.call_id)
            if sub is None:
                definition = (self.options.get("agents") or {}).get(e.agent) or {}
                task = self.tools.get(e.call_id)
                parent = self.trace.set_span_in_context(task, self.ctx) if task is not None else self.ctx
                model = definition.get("model") or f"{self.model['provider']}/{self.model['model']}"
                sub = _RunTrace(self.tracer, {**self.options, "model": model}, e.agent, parent)
                self.nested[e.call_id] = sub
            sub.handle(e.event)
            if e.event.type == "run_end":
                self.nested.pop(e.call_id, None)
        elif t == "run_end":
            self.end(e.result, at)
        elif t == "user_message":
            self.flush("stop")
            self.boundary = at

    def end(self, result: Any, at: int) -> None:
        self.flush(FINISH_BY_STOP.get(result.stop_reason, "stop"))
        for span in self.tools.values():
            span.end(end_time=at)
        self.tools.clear()
        s = self.span
        if s is None:
            return
        s.set_attribute("gen_ai.usage.input_tokens", result.usage.input_tokens)
        s.set_attribute("gen_ai.usage.output_tokens", result.usage.output_tokens)
        s.set_attribute("harnext.stop_reason", result.stop_reason)
        s.set_attribute("harnext.steps", len(result.steps))
        cost = getattr(result, "cost_usd", None)
        if cost is not None:
            s.set_attribute("harnext.cost_usd", cost)
        if self.record:
            s.set_attribute("gen_ai.output.messages", _text_messages("assistant", result.text))
        if not result.success and not result.cancelled:
            code = result.error.code if result.error is not None else result.stop_reason
            s.set_attribute("error.type", code)
            message = result.error.message if result.error is not None else result.stop_reason
            s.set_status(self.trace.Status(self.trace.StatusCode.ERROR, message))
        elif result.success:
            s.set_status(self.trace.Status(self.trace.StatusCode.OK))
        s.end(end_time=at)


def _new_run(tracer: Any, options: Dict[str, Any], input: Any) -> _RunTrace:
    from opentelemetry import context

    return _RunTrace(tracer, options, "harnext", context.get_current(), input)


def _safe(run: _RunTrace, e: Any) -> None:
    try:
        run.handle(e)
    except Exception:  # a tracing failure never breaks a run
        pass


def traced(events: Iterator[Any], tracer: Any, options: Dict[str, Any], input: Any) -> Iterator[Any]:
    """The events, passed on unchanged, each also turned into spans."""
    run = _new_run(tracer, options, input)
    ended = False
    try:
        for e in events:
            _safe(run, e)
            if e.type == "run_end":
                ended = True
            yield e
    finally:
        if not ended and run.span is not None:
            run.span.end()
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def atraced(events: AsyncIterator[Any], tracer: Any, options: Dict[str, Any], input: Any) -> AsyncIterator[Any]:
    """``traced`` for asyncio."""
    run = _new_run(tracer, options, input)
    ended = False
    try:
        async for e in events:
            _safe(run, e)
            if e.type == "run_end":
                ended = True
            yield e
    finally:
        if not ended and run.span is not None:
            run.span.end()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


class TracedStream:
    """A ``stream()`` whose events also make spans; ``send()``, ``interrupt()`` and the
    rest are the stream's own."""

    def __init__(self, inner: Any, tracer: Any, options: Dict[str, Any], input: Any) -> None:
        self._inner = inner
        self._events = traced(iter(inner), tracer, options, input)

    def __iter__(self) -> "TracedStream":
        return self

    def __next__(self) -> Any:
        return next(self._events)

    def close(self) -> None:
        self._events.close()
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class AsyncTracedStream:
    """``TracedStream`` for ``astream()``."""

    def __init__(self, inner: Any, tracer: Any, options: Dict[str, Any], input: Any) -> None:
        self._inner = inner
        self._events = atraced(inner.__aiter__(), tracer, options, input)

    def __aiter__(self) -> "AsyncTracedStream":
        return self

    async def __anext__(self) -> Any:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
