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
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional

from . import _native
from ._callbacks import BoundTool, LoopHolder, Tool, output_spec, permission_callback
from . import _tracing
from ._types import RunInterrupted, RunResult, SandboxStatus, SessionData, SessionInfo, event

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
    # Issue 18: project instructions and skills.
    "project_instructions",
    "skills",
    # Issue 18: web_fetch.
    "web_fetch",
    # Subagents (issue 18).
    "agents",
)


def _check_names(scope: str, unknown: Dict[str, Any]) -> None:
    """An unknown keyword argument is a ``TypeError`` naming it, with the engine's
    "did you mean" (``Agent(permision_mode=...)``: did you mean `permission_mode`?)."""
    if unknown:
        problem = _native.option_names_problem(scope, list(unknown))
        if problem is not None:
            raise TypeError(problem)
        # Options of the engine that this face does not take yet (budgets, hooks,
        # parallel tool calls, session stores): an error, never silently ignored.
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
        project_instructions: Optional[bool] = None,
        skills: Optional[List[Any]] = None,
        web_fetch: Optional[Dict[str, Any]] = None,
        agents: Optional[Dict[str, Any]] = None,
        tracing: Any = None,
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

    def _start(
        self,
        input: Any,
        cancel: Any,
        session_id: Optional[str],
        output_schema: Any,
        max_steps: Optional[int],
        max_output_retries: Optional[int],
        streaming: bool,
    ) -> Any:
        if cancel is not None and not isinstance(cancel, _native.CancelToken):
            raise TypeError(f"invalid option `cancel`: expected a harnext.CancelToken, got {type(cancel).__name__}")
        schema, validate, finalize = output_spec(output_schema)
        options = {
            "session_id": session_id,
            "max_steps": max_steps,
            "output_schema": schema,
            "output_validate": validate,
            "max_output_retries": max_output_retries,
        }
        native = self._native.start(input, options, cancel, streaming)
        return native, finalize

    def run(
        self,
        input: Any,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        **unknown: Any,
    ) -> RunResult:
        """Runs the agent loop to the end, with the GIL released (other threads keep
        running). Returns however the run ends; raises only for misuse found before it
        starts (and re-raises a KeyboardInterrupt after cancelling the run, see the module)."""
        _check_names("run", unknown)
        if self._trace["streamable"] and _tracing.tracer_for(self._trace["setting"]) is not None:
            # With tracing on, the same run goes through the event stream, whose spans it makes.
            result: Any = None
            for e in self.stream(
                input,
                cancel=cancel,
                session_id=session_id,
                output_schema=output_schema,
                max_steps=max_steps,
                max_output_retries=max_output_retries,
            ):
                if e.type == "run_end":
                    result = e.result
            return result  # type: ignore[no-any-return]
        native, finalize = self._start(input, cancel, session_id, output_schema, max_steps, max_output_retries, False)
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
        input: Any,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        **unknown: Any,
    ) -> Iterator[Any]:
        """A generator of the run's events; the run starts when iteration starts. Closing
        it early cancels the run."""
        _check_names("run", unknown)
        native, finalize = self._start(input, cancel, session_id, output_schema, max_steps, max_output_retries, True)
        tracer = _tracing.tracer_for(self._trace["setting"])
        if tracer is not None:
            return _tracing.traced(_events(native, finalize), tracer, self._trace, input)
        return _events(native, finalize)

    async def arun(
        self,
        input: Any,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        **unknown: Any,
    ) -> RunResult:
        """``run()`` for asyncio. Cancelling the awaiting task cancels the run."""
        _check_names("run", unknown)
        if self._trace["streamable"] and _tracing.tracer_for(self._trace["setting"]) is not None:
            traced_result: Any = None
            async for e in self.astream(
                input,
                cancel=cancel,
                session_id=session_id,
                output_schema=output_schema,
                max_steps=max_steps,
                max_output_retries=max_output_retries,
            ):
                if e.type == "run_end":
                    traced_result = e.result
            return traced_result  # type: ignore[no-any-return]
        native, finalize = self._start(input, cancel, session_id, output_schema, max_steps, max_output_retries, False)
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
        input: Any,
        *,
        cancel: Optional[_native.CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: Any = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        **unknown: Any,
    ) -> AsyncIterator[Any]:
        """``stream()`` for asyncio: ``async for event in agent.astream(...)``."""
        _check_names("run", unknown)
        native, finalize = self._start(input, cancel, session_id, output_schema, max_steps, max_output_retries, True)
        tracer = _tracing.tracer_for(self._trace["setting"])
        if tracer is not None:
            return _tracing.atraced(_aevents(native, finalize, self._loops), tracer, self._trace, input)
        return _aevents(native, finalize, self._loops)

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

    @staticmethod
    def list_sessions(*, session_dir: Any = None) -> List[SessionInfo]:
        """The sessions in a session directory, newest (last updated) first."""
        return [SessionInfo._from(s) for s in _native.list_sessions(session_dir)]

    @staticmethod
    def load_session(id: str, *, session_dir: Any = None) -> SessionData:
        """A session read back; ``ValueError`` for an unknown session."""
        return SessionData._from(_native.load_session(id, session_dir))

    @staticmethod
    def fork_session(id: str, *, at_message: Optional[int] = None, session_dir: Any = None) -> str:
        """Copies a session (its first ``at_message`` messages) into a new one; its id."""
        return _native.fork_session(id, at_message, session_dir)


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
