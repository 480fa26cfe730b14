"""``Agent``: the options checked by the engine, runs driven through the native module.

Cancellation. ``cancel=CancelToken()`` cancels from any thread or a signal handler:
``run()`` then returns the cancelled ``RunResult`` and ``stream()`` ends with its
``run_end``. A ``KeyboardInterrupt`` (Ctrl-C) during ``run()`` or while a ``stream()`` waits
for its next event cancels the run the same way (running commands killed, open tool calls
ended ``cancelled``, the session saved) and is then raised again, after that cleanup, as
``RunInterrupted`` (a ``KeyboardInterrupt``) with the cancelled ``RunResult`` as ``result``. Leaving a ``stream()`` early
(``break``, ``close()``, an exception in the loop body, garbage collection) cancels the run
and waits for it to end. Cancelling an ``arun()`` / ``astream()`` task cancels the run the
same way; on Python 3.11+ the ``CancelledError`` of ``arun`` carries the result as ``result``
too (3.9 and 3.10 hand the awaiting code a new ``CancelledError``)."""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, Union

from . import _native
from ._store import store_spec
from ._callbacks import BoundTool, LoopHolder, Tool, hook_spec, output_spec, permission_callback
from ._types import RunInterrupted, RunResult, SandboxStatus, SessionData, SessionInfo, decision_json, event
from ._types import RewindResult
from . import _tracing

atexit.register(_native.kill_mcp_servers)

_AGENT_OPTIONS = (
    "cwd",
    "base_url",
    "api_key",
    "headers",
    "system_prompt",
    "tools",
    "mcp_servers",
    "permission_mode",
    "on_permission_request",
    "max_steps",
    "max_output_tokens",
    "temperature",
    "thinking",
    "max_retries",
    "idle_timeout_ms",
    "stream_timeout_ms",
    "script",
    "session_dir",
    "persist_session",
    "context_window",
    "sandbox",
    "network",
    "writable_roots",
    "deny_read",
    "env_allow",
    "env_deny",
    "sandbox_best_effort",
    # Issues 17 and 19.
    "session_store",
    "hooks",
    "parallel_tool_calls",
    "max_cost_usd",
    "max_tokens",
    "max_duration_ms",
    # Issue 18: project instructions and skills.
    "project_instructions",
    "skills",
    # Issue 18: web_fetch.
    "web_fetch",
    # Issue 18: the providers' server-side web search.
    "web_search",
    # Subagents (issue 18).
    "agents",
    # Rewind (issue 17).
    "checkpoints",
)


def _check_names(scope: str, unknown: Dict[str, Any]) -> None:
    """An unknown keyword argument is a ``TypeError`` naming it, with the engine's
    "did you mean" (``Agent(permision_mode=...)``: did you mean `permission_mode`?)."""
    if unknown:
        problem = _native.option_names_problem(scope, list(unknown))
        if problem is not None:
            raise TypeError(problem)
        # An option of the engine that this face does not take yet (none today: a newer
        # engine's): an error, never silently ignored.
        names = ", ".join(f"`{n}`" for n in sorted(unknown))
        of = "an agent" if scope == "agent" else "a run"
        raise TypeError(f"option {names} of {of} is not available in the Python API yet")


def _interrupted(e: BaseException, finalize: Any) -> BaseException:
    """The exception to raise after a signal handler's exception cancelled a run: a
    KeyboardInterrupt becomes ``RunInterrupted`` carrying the cancelled result; any other
    exception gets the result as its ``result`` attribute."""
    raw = getattr(e, "_harnext_result", None)
    if raw is None:
        return e
    try:
        result = RunResult._from(raw, finalize)
    except Exception:
        result = RunResult._from(raw)
    if isinstance(e, KeyboardInterrupt) and not isinstance(e, RunInterrupted):
        return RunInterrupted(result).with_traceback(e.__traceback__)
    try:
        e.result = result  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return e


class Agent:
    """A coding agent: a model, a workspace, tools, and the sessions of its runs."""

    def __init__(
        self,
        model: str,
        *,
        cwd: Any = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        system_prompt: Any = None,
        tools: Optional[List[Any]] = None,
        mcp_servers: Optional[Dict[str, Any]] = None,
        permission_mode: Optional[str] = None,
        on_permission_request: Any = None,
        max_steps: Optional[int] = None,
        max_output_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        thinking: Any = None,
        max_retries: Optional[int] = None,
        idle_timeout_ms: Optional[int] = None,
        stream_timeout_ms: Optional[int] = None,
        script: Optional[List[Dict[str, Any]]] = None,
        session_dir: Any = None,
        persist_session: Optional[bool] = None,
        context_window: Optional[int] = None,
        sandbox: Optional[str] = None,
        network: Optional[bool] = None,
        writable_roots: Optional[List[Any]] = None,
        deny_read: Optional[List[Any]] = None,
        env_allow: Optional[List[str]] = None,
        env_deny: Optional[List[str]] = None,
        sandbox_best_effort: Optional[bool] = None,
        session_store: Any = None,
        hooks: Optional[Dict[str, Any]] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, Dict[str, Any], None] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        project_instructions: Optional[bool] = None,
        skills: Optional[List[Any]] = None,
        web_fetch: Optional[Dict[str, Any]] = None,
        agents: Optional[Dict[str, Any]] = None,
        tracing: Any = None,
        checkpoints: Union[bool, Dict[str, int], None] = None,
        **unknown: Any,
    ) -> None:
        _check_names("agent", unknown)
        _tracing.check(tracing)
        given = dict(locals())
        self._loops = LoopHolder()
        options: Dict[str, Any] = {"model": model}
        for name in _AGENT_OPTIONS:
            value = given[name]
            if value is None:
                continue
            if name == "tools":
                if not isinstance(value, (list, tuple)):
                    raise TypeError(
                        f"invalid option `tools`: expected a list of tool names and @tool functions, got {type(value).__name__}"
                    )
                value = [BoundTool(t, self._loops) if isinstance(t, Tool) else t for t in value]
            elif name == "on_permission_request":
                if not callable(value):
                    raise TypeError(f"invalid option `on_permission_request`: expected a callable, got {type(value).__name__}")
                value = permission_callback(value, self._loops)
            elif name == "hooks":
                value = hook_spec(value, self._loops)
            elif name == "session_store":
                value = store_spec(value)
            options[name] = value
        self._native = _native.NativeAgent(options)
        # What tracing needs (see _tracing.py); run() goes through the event stream only
        # where it could answer permissions itself.
        self._trace = {
            "setting": tracing,
            "record_content": isinstance(tracing, dict) and tracing.get("record_content") is True,
            "model": model,
            "agents": agents,
            "streamable": on_permission_request is not None or permission_mode not in ("manual", "accept-edits"),
        }

    @property
    def cwd(self) -> str:
        return self._native.cwd

    @property
    def system_prompt(self) -> str:
        return self._native.system_prompt

    def sandbox_status(self) -> SandboxStatus:
        """What the sandbox enforces for this agent's commands (and MCP stdio servers)."""
        return SandboxStatus._from(self._native.sandbox_status())

    def _start(self, input: Any, cancel: Any, options: Dict[str, Any], streaming: bool) -> Any:
        if cancel is not None and not isinstance(cancel, _native.CancelToken):
            raise TypeError(f"invalid option `cancel`: expected a harnext.CancelToken, got {type(cancel).__name__}")
        approvals = options.pop("approvals")
        if approvals is not None:
            if input is not None:
                raise TypeError("run(): give the input or `approvals`, not both")
            input = {"approvals": _approvals(approvals)}
        elif input is None:
            raise TypeError("run(): missing the input: a task string, a list of messages, or approvals={id: decision}")
        schema, validate, finalize = output_spec(options.pop("output_schema"))
        options["output_schema"] = schema
        options["output_validate"] = validate
        native = self._native.start(input, options, cancel, streaming)
        return native, finalize

    def run(
        self,
        input: Any = None,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, Dict[str, Any], None] = None,
        approvals: Optional[Mapping[str, Any]] = None,
        **unknown: Any,
    ) -> RunResult:
        """Runs the agent loop to the end, with the GIL released (other threads keep
        running). Returns however the run ends; raises only for misuse found before it
        starts (and re-raises a KeyboardInterrupt after cancelling the run, see the module)."""
        _check_names("run", unknown)
        options = _run_options(locals())
        if self._trace["streamable"] and _tracing.tracer_for(self._trace["setting"]) is not None:
            # With tracing on, the same run goes through the event stream, whose spans it makes.
            result: Any = None
            for e in self.stream(input, cancel=cancel, **options):
                if e.type == "run_end":
                    result = e.result
            return result  # type: ignore[no-any-return]
        native, finalize = self._start(input, cancel, options, False)
        try:
            raw = native.run()
        except BaseException as e:
            raised = _interrupted(e, finalize)
            if raised is e:
                raise
            raise raised from None
        return RunResult._from(raw, finalize)

    def stream(
        self,
        input: Any = None,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, Dict[str, Any], None] = None,
        approvals: Optional[Mapping[str, Any]] = None,
        **unknown: Any,
    ) -> Iterator[Any]:
        """A generator of the run's events; the run starts when iteration starts. Closing
        it early cancels the run."""
        _check_names("run", unknown)
        native, finalize = self._start(input, cancel, _run_options(locals()), True)
        tracer = _tracing.tracer_for(self._trace["setting"])
        if tracer is not None:
            return _tracing.TracedStream(RunStream(native, finalize), tracer, self._trace, input)
        return RunStream(native, finalize)

    async def arun(
        self,
        input: Any = None,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, Dict[str, Any], None] = None,
        approvals: Optional[Mapping[str, Any]] = None,
        **unknown: Any,
    ) -> RunResult:
        """``run()`` for asyncio. Cancelling the awaiting task cancels the run."""
        _check_names("run", unknown)
        options = _run_options(locals())
        if self._trace["streamable"] and _tracing.tracer_for(self._trace["setting"]) is not None:
            traced_result: Any = None
            async for e in self.astream(input, cancel=cancel, **options):
                if e.type == "run_end":
                    traced_result = e.result
            return traced_result  # type: ignore[no-any-return]
        native, finalize = self._start(input, cancel, options, False)
        self._loops.loop = asyncio.get_running_loop()
        self._loops.owner = threading.get_ident()
        future = native.run_async()
        try:
            raw = await asyncio.shield(future)
        except asyncio.CancelledError as e:
            native.cancel()
            try:
                e.result = RunResult._from(await future, finalize)  # type: ignore[attr-defined]
            except Exception:
                pass
            raise
        return RunResult._from(raw, finalize)

    def astream(
        self,
        input: Any = None,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, Dict[str, Any], None] = None,
        approvals: Optional[Mapping[str, Any]] = None,
        **unknown: Any,
    ) -> AsyncIterator[Any]:
        """``stream()`` for asyncio: ``async for event in agent.astream(...)``."""
        _check_names("run", unknown)
        native, finalize = self._start(input, cancel, _run_options(locals()), True)
        tracer = _tracing.tracer_for(self._trace["setting"])
        if tracer is not None:
            return _tracing.AsyncTracedStream(AsyncRunStream(native, finalize, self._loops), tracer, self._trace, input)
        return AsyncRunStream(native, finalize, self._loops)

    def send(self, session_id: str, message: str, *, urgent: bool = False) -> None:
        """Sends a user message to this agent's run going on on ``session_id`` (a ``run()``
        on another thread, an ``arun()`` task, a stream): the run takes it in before its next
        model call (``urgent``: also before its next tool call). ``ValueError`` when no run
        of this agent is going on on that session."""
        self._native.send(_session("send", session_id), _message("send", message), _urgent(urgent))

    def interrupt(self, session_id: str, message: Optional[str] = None) -> None:
        """Interrupts this agent's run going on on ``session_id``: the model call and tool
        calls in progress stop at once (``cancelled``), and the run goes on with ``message``,
        or, without one, ends cancelled. The session stays valid."""
        self._native.interrupt(
            _session("interrupt", session_id), None if message is None else _message("interrupt", message)
        )

    def close(self) -> None:
        """Ends the agent's MCP servers; a later run starts them again."""
        self._native.close()

    async def aclose(self) -> None:
        await self._native.close_async()

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "Agent":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def rewind(self, session_id: str, *, to_message: int, fork: bool = False) -> RewindResult:
        """Puts session ``session_id`` and the workspace's files back to the point before
        message ``to_message`` (an index into ``load_session(session_id).messages``: the
        first ``to_message`` messages are kept). Files a later step changed (edits, writes,
        shell commands) go back to their checkpointed state; the conversation is cut there,
        or with ``fork=True`` left as it is while a new session starts from that point.
        ``ValueError`` for an unknown session, a ``to_message`` past the end, or a session a
        run holds."""
        if not isinstance(fork, bool):
            raise TypeError(f"rewind(): `fork` must be a bool, got {type(fork).__name__}")
        return RewindResult._from(self._native.rewind(session_id, to_message, fork))

    @staticmethod
    def list_sessions(*, session_dir: Any = None, session_store: Any = None) -> List[SessionInfo]:
        """The sessions in a session directory (or ``session_store``), newest (last updated) first."""
        return [SessionInfo._from(s) for s in _native.list_sessions(session_dir, _store(session_store))]

    @staticmethod
    def load_session(id: str, *, session_dir: Any = None, session_store: Any = None) -> SessionData:
        """A session read back; ``ValueError`` for an unknown session."""
        return SessionData._from(_native.load_session(id, session_dir, _store(session_store)))

    @staticmethod
    def fork_session(
        id: str, *, at_message: Optional[int] = None, session_dir: Any = None, session_store: Any = None
    ) -> str:
        """Copies a session (its first ``at_message`` messages) into a new one in the same
        directory or store; its id."""
        return _native.fork_session(id, at_message, session_dir, _store(session_store))


_RUN_OPTIONS = (
    "session_id",
    "max_steps",
    "output_schema",
    "max_output_retries",
    "max_cost_usd",
    "max_tokens",
    "max_duration_ms",
    "parallel_tool_calls",
    "web_search",
    "approvals",
)


def _run_options(given: Dict[str, Any]) -> Dict[str, Any]:
    return {name: given[name] for name in _RUN_OPTIONS}


def _approvals(approvals: Any) -> Dict[str, Any]:
    """``approvals={call_id: decision}``: each decision as the engine reads it (the engine
    checks them against what the session waits for)."""
    if not isinstance(approvals, Mapping):
        raise TypeError(
            f"invalid option `approvals`: expected a dict of decisions by call id, got {type(approvals).__name__}"
        )
    out: Dict[str, Any] = {}
    for k, v in approvals.items():
        if not isinstance(k, str):
            raise TypeError(f"invalid option `approvals`: expected call ids as strings, got {k!r}")
        out[k] = decision_json(v)
    return out


def _message(what: str, message: Any) -> str:
    if not isinstance(message, str):
        raise TypeError(f"{what}(): expected a message string, got {type(message).__name__} {message!r}")
    return message


def _session(what: str, session_id: Any) -> str:
    if not isinstance(session_id, str):
        raise TypeError(f"{what}(): expected a session id string, got {type(session_id).__name__} {session_id!r}")
    return session_id


def _urgent(urgent: Any) -> bool:
    if not isinstance(urgent, bool):
        raise TypeError(f"send(): expected `urgent` as a bool, got {type(urgent).__name__} {urgent!r}")
    return urgent


def _store(session_store: Any) -> Any:
    return store_spec(session_store)


class RunStream:
    """The events of a ``stream()``: iterate it (the run starts when iteration starts).
    ``send()`` and ``interrupt()`` steer the run while it works; ``close()`` (or leaving
    the loop, or garbage collection) cancels it and waits for it to end."""

    def __init__(self, native: Any, finalize: Any) -> None:
        self._native = native
        self._events = _events(native, finalize)

    def __iter__(self) -> "RunStream":
        return self

    def __next__(self) -> Any:
        return next(self._events)

    def close(self) -> None:
        self._events.close()

    def send(self, message: str, *, urgent: bool = False) -> None:
        """Queues a user message the run takes in before its next model call (``urgent``:
        also before its next tool call; the calls of the turn not started are not run).
        ``ValueError`` once the run has ended (continue its session with a new run)."""
        self._native.send(_message("send", message), _urgent(urgent))

    def interrupt(self, message: Optional[str] = None) -> None:
        """Stops the model call and tool calls in progress (they end ``cancelled``) within
        milliseconds; the run goes on with ``message``, or, without one, ends cancelled."""
        self._native.interrupt(None if message is None else _message("interrupt", message))


class AsyncRunStream:
    """``RunStream`` for asyncio: ``async for event in stream``; ``send()``, ``interrupt()``,
    ``await stream.aclose()``."""

    def __init__(self, native: Any, finalize: Any, loops: LoopHolder) -> None:
        self._native = native
        self._events = _aevents(native, finalize, loops)

    def __aiter__(self) -> "AsyncRunStream":
        return self

    async def __anext__(self) -> Any:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    def send(self, message: str, *, urgent: bool = False) -> None:
        """See ``RunStream.send``."""
        self._native.send(_message("send", message), _urgent(urgent))

    def interrupt(self, message: Optional[str] = None) -> None:
        """See ``RunStream.interrupt``."""
        self._native.interrupt(None if message is None else _message("interrupt", message))


def _events(native: Any, finalize: Any) -> Iterator[Any]:
    respond = native.respond
    try:
        while True:
            batch = native.next_batch()
            if batch is None:
                return
            for d in batch:
                yield event(d, respond, finalize)
    except BaseException as e:
        raised = _interrupted(e, finalize)
        if raised is e:
            raise
        raise raised from None
    finally:
        native.close()


async def _aevents(native: Any, finalize: Any, loops: LoopHolder) -> AsyncIterator[Any]:
    loops.loop = asyncio.get_running_loop()
    loops.owner = threading.get_ident()
    respond = native.respond
    try:
        while True:
            batch = await native.next_batch_async()
            if batch is None:
                return
            for d in batch:
                yield event(d, respond, finalize)
    finally:
        await native.close_async()
