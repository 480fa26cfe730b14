"""The shapes of results, events and sessions: frozen dataclasses built from the dicts the
native module hands over (snake_case, as the engine's own serialisation). Types: see
``__init__.pyi``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Literal, Optional


def _fields(cls: type, d: Dict[str, Any]) -> Dict[str, Any]:
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in d.items() if k in names and names[k].init}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    unreported: bool = False
    web_search_requests: int = 0

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "Usage":
        return cls(**_fields(cls, d))


@dataclass(frozen=True)
class HarnextError:
    code: str
    message: str
    retryable: bool = False
    status: Optional[int] = None

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "HarnextError":
        return cls(**_fields(cls, d))


@dataclass(frozen=True)
class ToolStep:
    id: str
    tool: str
    args: Any
    status: str
    output: str
    duration_ms: int

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "ToolStep":
        return cls(**_fields(cls, d))


@dataclass(frozen=True)
class StopDetails:
    """What the provider said about a refusal or a filtered output."""

    category: Optional[str] = None
    explanation: Optional[str] = None
    raw: Any = None

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "StopDetails":
        return cls(**_fields(cls, d))


@dataclass(frozen=True)
class PendingApproval:
    """A tool call whose approval was deferred, waiting in its session: answer it with
    ``agent.run(approvals={id: decision}, session_id=...)``."""

    id: str
    tool: str
    args: Dict[str, Any]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "PendingApproval":
        return cls(**_fields(cls, d))


@dataclass(frozen=True)
class RunResult:
    text: str
    steps: List[ToolStep]
    files_changed: List[str]
    usage: Usage
    session_id: str
    success: bool
    cancelled: bool
    stop_reason: str
    stop_details: Optional[StopDetails] = None
    output: Any = None
    error: Optional[HarnextError] = None
    duration_ms: int = 0
    # What the run's model calls cost in USD at list prices; None (not zero) when unknown.
    cost_usd: Optional[float] = None
    # With stop reason ``awaiting_approval``: the calls waiting for a decision.
    pending_approvals: List[PendingApproval] = field(default_factory=list)

    @classmethod
    def _from(cls, d: Dict[str, Any], finalize: Optional[Callable[[Any], Any]] = None) -> "RunResult":
        output = d.get("output")
        if output is not None and finalize is not None:
            output = finalize(output)
        err = d.get("error")
        details = d.get("stop_details")
        return cls(
            text=d["text"],
            steps=[ToolStep._from(s) for s in d["steps"]],
            files_changed=list(d["files_changed"]),
            usage=Usage._from(d["usage"]),
            session_id=d["session_id"],
            success=d["success"],
            cancelled=d["cancelled"],
            stop_reason=d["stop_reason"],
            stop_details=StopDetails._from(details) if details is not None else None,
            output=output,
            error=HarnextError._from(err) if err is not None else None,
            duration_ms=d["duration_ms"],
            cost_usd=d.get("cost_usd"),
            pending_approvals=[PendingApproval._from(p) for p in d.get("pending_approvals", [])],
        )


@dataclass(frozen=True)
class Decision:
    """A permission decision as a small class: ``Decision("allow", args=..., remember=True)``,
    ``Decision("deny", message=...)`` or ``Decision("defer")``. ``"allow"``, ``"deny"``,
    ``"defer"`` and dicts work too."""

    # ``"defer"`` leaves the call waiting: the run ends ``awaiting_approval`` and a later
    # run answers it (``agent.run(approvals={id: decision}, session_id=...)``).
    behavior: str
    args: Optional[Dict[str, Any]] = None
    remember: Optional[bool] = None
    message: Optional[str] = None
    # For one sandboxed ``bash`` call: ``{"network": True, "writable_roots": [...]}``.
    escalate: Optional[Dict[str, Any]] = None


def decision_json(decision: Any) -> Any:
    """A decision as the engine reads it (``"allow"``, ``"deny"`` or a dict)."""
    if isinstance(decision, Decision):
        return {k: v for k, v in dataclasses.asdict(decision).items() if v is not None}
    if isinstance(decision, (str, dict)):
        return decision
    behavior = getattr(decision, "behavior", None)
    if isinstance(behavior, str):
        out: Dict[str, Any] = {"behavior": behavior}
        for k in ("args", "remember", "message", "escalate"):
            v = getattr(decision, k, None)
            if v is not None:
                out[k] = v
        return out
    raise TypeError(
        f'invalid decision {decision!r}: expected "allow", "deny", "defer", a dict or a Decision '
        "with behavior, args, remember, message, escalate"
    )


@dataclass(frozen=True)
class PermissionRequest:
    id: str
    tool: str
    args: Dict[str, Any]
    # How the call would run if allowed: in the OS sandbox (the ``bash`` tool with a
    # sandbox in force), or not (``None``). Only a sandboxed call can be escalated.
    sandbox: Optional["CallSandbox"] = None

    @property
    def sandboxed(self) -> bool:
        return self.sandbox is not None


# Events: one class per `type`, each with its Literal `type` (see __init__.pyi).


@dataclass(frozen=True)
class RunSandbox:
    """The sandbox of a run's commands: the mode chosen and the one in force."""

    requested: str
    enforced: str
    network: bool
    partial: bool


@dataclass(frozen=True)
class CallSandbox:
    """How a call waiting for approval would run: its sandbox mode and network access."""

    mode: str
    network: bool


def call_sandbox(d: Any) -> Optional[CallSandbox]:
    return CallSandbox(d["mode"], d["network"]) if isinstance(d, dict) else None


@dataclass(frozen=True)
class RunStartEvent:
    session_id: str
    sandbox: Optional[RunSandbox] = None
    type: str = field(default="run_start", init=False)


@dataclass(frozen=True)
class ThinkingEvent:
    text: str
    type: str = field(default="thinking", init=False)


@dataclass(frozen=True)
class TextEvent:
    text: str
    type: str = field(default="text", init=False)


@dataclass(frozen=True)
class ToolCallEvent:
    id: str
    tool: str
    args: Dict[str, Any]
    type: str = field(default="tool_call", init=False)


@dataclass(frozen=True)
class ToolResultEvent:
    id: str
    status: str
    output: str
    type: str = field(default="tool_result", init=False)


@dataclass(frozen=True)
class PermissionRequestEvent:
    id: str
    tool: str
    args: Dict[str, Any]
    sandbox: Optional[CallSandbox] = None
    _respond: Optional[Callable[[str, Any], None]] = field(default=None, repr=False, compare=False)
    # The engine's key for the request (unique in the process, unlike a tool call id a
    # model may reuse): what respond() answers.
    _request_id: Optional[str] = field(default=None, repr=False, compare=False)
    type: str = field(default="permission_request", init=False)

    @property
    def sandboxed(self) -> bool:
        """Whether the call would run in the OS sandbox if allowed."""
        return self.sandbox is not None

    def respond(self, decision: Any) -> None:
        """Answers the request (when the agent has no ``on_permission_request``); the run
        goes on when it has the decision. Answering twice raises ``ValueError``."""
        if self._respond is None:
            raise ValueError("respond(): this event is not from a running stream")
        self._respond(self._request_id or self.id, decision_json(decision))


@dataclass(frozen=True)
class UsageEvent:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    unreported: bool = False
    web_search_requests: int = 0
    # What the model call cost in USD at list prices; None (not zero) when unknown.
    cost_usd: Optional[float] = None
    type: str = field(default="usage", init=False)


@dataclass(frozen=True)
class RetryEvent:
    attempt: int
    delay_ms: int
    reason: str
    type: str = field(default="retry", init=False)


@dataclass(frozen=True)
class CompactionEvent:
    before_tokens: int
    after_tokens: int
    trimmed: int
    summarized: int
    type: str = field(default="compaction", init=False)


@dataclass(frozen=True)
class McpServerErrorEvent:
    server: str
    message: str
    type: str = field(default="mcp_server_error", init=False)


@dataclass(frozen=True)
class McpWarningEvent:
    server: str
    message: str
    tool: Optional[str] = None
    type: str = field(default="mcp_warning", init=False)


@dataclass(frozen=True)
class UserMessageEvent:
    """A message sent to the run while it worked (``send``, ``interrupt``) was taken in."""

    text: str
    type: str = field(default="user_message", init=False)


@dataclass(frozen=True)
class HookErrorEvent:
    """A hook failed (raised, timed out, or answered something it may not): ``hook`` is
    its name (``pre_tool_use``, ...), ``message`` what happened and what the run did."""

    hook: str
    message: str
    type: str = field(default="hook_error", init=False)


@dataclass(frozen=True)
class WarningEvent:
    """Something to know that does not stop the run: a skill left out (its SKILL.md front
    matter is malformed, its name taken), a project instructions file cut to its size cap."""

    message: str
    path: Optional[str] = None
    type: str = field(default="warning", init=False)


# ---- The plan (issue 18): todo_write's task list ----


@dataclass(frozen=True)
class TodoItem:
    """One item of the task list the model keeps with ``todo_write``."""

    content: str
    status: str


@dataclass(frozen=True)
class TodoEvent:
    """The model changed its task list: the whole list as it is now, in order."""

    todos: List[TodoItem]
    type: str = field(default="todo", init=False)


def _todos(items: Any) -> List[TodoItem]:
    return [TodoItem(str(t["content"]), str(t["status"])) for t in items or []]


# ---- end of the plan ----

# ---- Server-side web search (issue 18): web_search= ----


@dataclass(frozen=True)
class WebSearchResult:
    """One page a server-side web search found."""

    url: str
    title: Optional[str] = None
    page_age: Optional[str] = None


@dataclass(frozen=True)
class WebSearchEvent:
    """A server-side web search: ``searching``, then ``completed`` (with ``results``) or
    ``failed`` (with ``error``)."""

    id: str
    status: str
    query: Optional[str] = None
    results: List[WebSearchResult] = field(default_factory=list)
    error: Optional[str] = None
    type: str = field(default="web_search", init=False)


@dataclass(frozen=True)
class CitationEvent:
    """The reply cites a page found by a server-side web search."""

    url: str
    title: Optional[str] = None
    cited_text: Optional[str] = None
    type: str = field(default="citation", init=False)


# ---- end of server-side web search ----


@dataclass(frozen=True)
class ErrorEvent:
    error: HarnextError
    type: str = field(default="error", init=False)


@dataclass(frozen=True)
class RunEndEvent:
    result: RunResult
    type: str = field(default="run_end", init=False)


@dataclass(frozen=True)
class SubagentEvent:
    """An event of a subagent (the ``agents`` option): ``agent`` is its name, ``call_id``
    the parent's ``task`` call that runs it, ``event`` its own event (its ``run_start``
    first, its ``run_end`` last)."""

    agent: str
    call_id: str
    event: Any
    type: Literal["subagent"] = field(default="subagent", init=False)


_SIMPLE: Dict[str, type] = {
    "thinking": ThinkingEvent,
    "tool_call": ToolCallEvent,
    "tool_result": ToolResultEvent,
    "usage": UsageEvent,
    "retry": RetryEvent,
    "compaction": CompactionEvent,
    "mcp_server_error": McpServerErrorEvent,
    "mcp_warning": McpWarningEvent,
    "user_message": UserMessageEvent,
    "hook_error": HookErrorEvent,
    "warning": WarningEvent,
    "citation": CitationEvent,
}


def event(
    d: Dict[str, Any],
    respond: Optional[Callable[[str, Any], None]],
    finalize: Optional[Callable[[Any], Any]],
) -> Any:
    """The event class of a native event dict."""
    t = d["type"]
    if t == "text":
        return TextEvent(d["text"])
    if t == "run_end":
        return RunEndEvent(RunResult._from(d["result"], finalize))
    if t == "error":
        return ErrorEvent(HarnextError._from(d["error"]))
    if t == "permission_request":
        return PermissionRequestEvent(
            d["id"],
            d["tool"],
            d["args"],
            sandbox=call_sandbox(d.get("sandbox")),
            _respond=respond,
            _request_id=d.get("request_id"),
        )
    if t == "todo":
        return TodoEvent(_todos(d.get("todos")))
    if t == "web_search":
        return WebSearchEvent(
            str(d["id"]),
            str(d["status"]),
            d.get("query"),
            [WebSearchResult(**_fields(WebSearchResult, r)) for r in d.get("results") or []],
            d.get("error"),
        )
    if t == "subagent":
        # The subagent's own run_end carries its result as it is (no structured output).
        return SubagentEvent(d["agent"], d["call_id"], event(d["event"], respond, None))
    if t == "run_start":
        sandbox = d.get("sandbox")
        return RunStartEvent(d["session_id"], RunSandbox(**_fields(RunSandbox, sandbox)) if sandbox else None)
    cls = _SIMPLE.get(t)
    if cls is None:
        raise RuntimeError(f"harnext: unknown event type {t!r} (the native module is newer than this package)")
    return cls(**_fields(cls, d))


@dataclass(frozen=True)
class ForkedFrom:
    id: str
    at_message: int


@dataclass(frozen=True)
class SessionInfo:
    id: str
    created_at: int
    updated_at: int
    model: Optional[str]
    cwd: Optional[str]
    title: Optional[str]
    forked_from: Optional[ForkedFrom]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "SessionInfo":
        f = d.get("forked_from")
        return cls(**{**_fields(cls, d), "forked_from": ForkedFrom(**f) if f else None})


@dataclass(frozen=True)
class SubagentTranscript:
    """A subagent's run (a ``task`` call), kept in its parent's session."""

    call_id: str
    agent: str
    messages: List[Dict[str, Any]]
    usage: Usage
    stop_reason: str

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "SubagentTranscript":
        return cls(**{**_fields(cls, d), "usage": Usage._from(d["usage"])})


@dataclass(frozen=True)
class SessionData:
    id: str
    messages: List[Dict[str, Any]]
    steps: List[ToolStep]
    usage: Usage
    files_changed: List[str]
    created_at: int
    updated_at: int
    model: Optional[str]
    cwd: Optional[str]
    forked_from: Optional[ForkedFrom]
    runs: int
    compactions: int
    allowed_tools: List[str]
    # Tool calls waiting for approvals (deferred decisions).
    pending_approvals: List[PendingApproval] = field(default_factory=list)
    todos: List[TodoItem] = field(default_factory=list)
    """The task list the model keeps with ``todo_write``, as it is now."""
    subagents: List["SubagentTranscript"] = field(default_factory=list)

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "SessionData":
        f = d.get("forked_from")
        return cls(
            **{
                **_fields(cls, d),
                "pending_approvals": [PendingApproval._from(p) for p in d.get("pending_approvals", [])],
                "todos": _todos(d.get("todos")),
                "subagents": [SubagentTranscript._from(t) for t in d.get("subagents", [])],
                "steps": [ToolStep._from(s) for s in d["steps"]],
                "usage": Usage._from(d["usage"]),
                "forked_from": ForkedFrom(**f) if f else None,
            }
        )


@dataclass(frozen=True)
class NotRestored:
    """A file ``Agent.rewind()`` could not put back, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class RewindResult:
    """What ``Agent.rewind()`` did: the session that continues from the point (the fork's
    with ``fork=True``), the messages kept and cut, the files written back and removed, and
    those it could not restore."""

    session_id: str
    to_message: int
    messages_removed: int
    restored: List[str]
    removed: List[str]
    not_restored: List[NotRestored]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "RewindResult":
        return cls(
            **{**_fields(cls, d), "not_restored": [NotRestored(**n) for n in d["not_restored"]]}
        )


@dataclass(frozen=True)
class SandboxStatus:
    """What an agent's sandbox enforces: the mode asked for and the one in force, whether
    commands may use the network, whether some of the mode is missing (best effort), a
    paragraph for people and models, and what the system could not enforce."""

    requested: str
    enforced: str
    network: bool
    partial: bool
    summary: str
    missing: List[str]

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "SandboxStatus":
        return cls(**{**_fields(cls, d), "missing": list(d.get("missing", []))})


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (KeyboardInterrupt) during ``run()`` or while ``stream()`` waited: raised after
    the run was cancelled and ended, with its cancelled ``RunResult`` as ``result``. A
    ``KeyboardInterrupt``, so ``except KeyboardInterrupt`` and Ctrl-C's usual exit still work."""

    def __init__(self, result: RunResult) -> None:
        super().__init__()
        self.result = result
