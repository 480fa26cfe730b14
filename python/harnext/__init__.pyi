# The public types of harnext (checked by `mypy --strict` in scripts/test.sh, over the
# design document's examples and python/tests/typing_check.py). Keep in step with the
# dataclasses of _types.py and the signatures of _agent.py / _callbacks.py
# (python/tests/test_stubs.py compares them).

import asyncio
import os
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    List,
    Literal,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    final,
    overload,
)

from typing_extensions import TypedDict, NotRequired

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

__version__: str

ToolStatus = Literal["ok", "error", "denied", "cancelled"]
StopReason = Literal[
    "end_turn",
    "max_steps",
    "cancelled",
    "error",
    "max_tokens",
    "refusal",
    "content_filter",
    # Issues 17 and 19: budgets, a user_prompt_submit hook's block, deferred approvals.
    "cost_budget",
    "token_budget",
    "time_budget",
    "blocked",
    "awaiting_approval",
]
ErrorCode = Literal[
    "auth",
    "rate_limit",
    "overloaded",
    "bad_request",
    "context_overflow",
    "network",
    "timeout",
    "server",
    "max_steps",
    "max_tokens",
    "refusal",
    "content_filter",
    "output_invalid",
    "tool",
    "internal",
    # Issues 17 and 19.
    "cost_budget",
    "token_budget",
    "time_budget",
    "blocked",
    "session_store",
]
PermissionMode = Literal["auto", "manual", "accept-edits", "read-only"]
SandboxMode = Literal["workspace-write", "read-only", "off"]
BuiltinToolName = Literal["read_file", "write_file", "edit_file", "multi_edit", "glob", "grep", "bash", "todo_write", "web_fetch"]
TodoStatus = Literal["pending", "in_progress", "completed"]

class WebFetchOptions(TypedDict, total=False):
    """Where the `web_fetch` tool may go (it runs only with `network=True`)."""

    allowed_domains: List[str]
    blocked_domains: List[str]
    timeout_ms: int

class WebSearchUserLocation(TypedDict, total=False):
    """An approximate user location for web search."""

    city: str
    region: str
    country: str
    """A two-letter ISO 3166-1 country code (`"US"`)."""
    timezone: str
    """An IANA time zone (`"America/Los_Angeles"`)."""

class WebSearchOptions(TypedDict, total=False):
    """The provider's own server-side web search (`web_search=`): Anthropic's `web_search`
    tool, OpenAI Responses' hosted `web_search`. It runs on the provider's servers."""

    max_uses: int
    """At most this many searches per model call (Anthropic only)."""
    allowed_domains: List[str]
    blocked_domains: List[str]
    """Anthropic only; not with `allowed_domains`."""
    user_location: WebSearchUserLocation

builtin_tools: Tuple[BuiltinToolName, ...]

# ---- images (issue 18): the parts of an input message ----

ImageMediaType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]

class TextPart(TypedDict):
    type: Literal["text"]
    text: str

class ImagePathPart(TypedDict):
    """A file of the workspace, read when the run starts (no escape by `..` or symlinks)."""

    type: Literal["image"]
    path: str

class ImageDataPart(TypedDict):
    """Bytes, or their base64, with their media type (checked against the bytes)."""

    type: Literal["image"]
    data: Union[bytes, str]
    media_type: ImageMediaType

class ImageUrlPart(TypedDict):
    """An https URL without credentials; the provider fetches it."""

    type: Literal["image"]
    url: str

ImagePart = Union[ImagePathPart, ImageDataPart, ImageUrlPart]
ContentPart = Union[TextPart, ImagePart]

# ---- end images ----

class Message(TypedDict):
    role: Literal["user", "assistant"]
    content: Union[str, List[ContentPart]]

class CancelToken:
    """Cancels runs: `cancel()` may be called from any thread or a signal handler."""

    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    unreported: bool
    """True when the server did not report usable counts (for the call, or for at least
    one call of the run): the zeros then mean "unknown", not "free"."""
    web_search_requests: int
    """Server-side web searches the provider ran (`web_search=`; billed per search)."""
    def __init__(
        self,
        input_tokens: int = ...,
        output_tokens: int = ...,
        cache_read_tokens: int = ...,
        cache_write_tokens: int = ...,
        reasoning_tokens: int = ...,
        unreported: bool = ...,
        web_search_requests: int = ...,
    ) -> None: ...

@final
class HarnextError:
    code: ErrorCode
    message: str
    retryable: bool
    status: Optional[int]

@final
class ToolStep:
    id: str
    tool: str
    args: Any
    status: ToolStatus
    output: str
    duration_ms: int

@final
class StopDetails:
    """What the provider said about a refusal or a filtered output."""

    category: Optional[str]
    explanation: Optional[str]
    raw: Any

@final
class RunResult(Generic[_T]):
    text: str
    steps: List[ToolStep]
    files_changed: List[str]
    usage: Usage
    session_id: str
    success: bool
    cancelled: bool
    stop_reason: StopReason
    stop_details: Optional[StopDetails]
    """With `refusal` and `content_filter`: what the provider said about it."""
    output: _T
    """The validated structured output (an instance of the pydantic model given as
    `output_schema`); None when no schema was given or the run did not succeed."""
    error: Optional[HarnextError]
    duration_ms: int
    cost_usd: Optional[float]
    """What the run's model calls cost in USD at list prices; None (not zero) when the price
    of the model or of one of its calls is unknown."""
    pending_approvals: List[PendingApproval]
    """With stop reason `awaiting_approval`: the calls waiting for a decision."""

@final
class PendingApproval:
    """A tool call whose approval was deferred, waiting in its session: answer it with
    `agent.run(approvals={id: decision}, session_id=...)`, from any process."""

    id: str
    tool: str
    args: Dict[str, Any]

class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during `run()` / `stream()`: raised after the run was cancelled and ended."""

    result: RunResult[Any]
    def __init__(self, result: RunResult[Any]) -> None: ...

@final
class Decision:
    """`Decision("defer")` leaves the call waiting: the run ends `awaiting_approval`."""

    behavior: Literal["allow", "deny", "defer"]
    args: Optional[Dict[str, Any]]
    remember: Optional[bool]
    message: Optional[str]
    escalate: Optional[Escalation]
    def __init__(
        self,
        behavior: Literal["allow", "deny", "defer"],
        args: Optional[Dict[str, Any]] = None,
        remember: Optional[bool] = None,
        message: Optional[str] = None,
        escalate: Optional[Escalation] = None,
    ) -> None: ...

class Escalation(TypedDict, total=False):
    """What one approved, sandboxed `bash` call may do beyond the sandbox."""

    network: bool
    writable_roots: List[str]

class AllowDict(TypedDict):
    behavior: Literal["allow"]
    args: NotRequired[Dict[str, Any]]
    remember: NotRequired[bool]
    escalate: NotRequired[Escalation]

class DenyDict(TypedDict):
    behavior: Literal["deny"]
    message: NotRequired[str]

class DeferDict(TypedDict):
    behavior: Literal["defer"]

DecisionLike = Union[Literal["allow", "deny", "defer"], Decision, AllowDict, DenyDict, DeferDict]
AnswerLike = Union[Literal["allow", "deny"], Decision, AllowDict, DenyDict]
"""An answer to a deferred approval (`approvals={id: answer}`): "defer" is not one."""

@final
class CallSandbox:
    """How a call waiting for approval would run in the OS sandbox."""

    mode: SandboxMode
    network: bool

@final
class RunSandbox:
    """The sandbox of a run's commands: the mode chosen and the one in force."""

    requested: SandboxMode
    enforced: SandboxMode
    network: bool
    partial: bool

@final
class PermissionRequest:
    id: str
    tool: str
    args: Dict[str, Any]
    sandbox: Optional[CallSandbox]
    @property
    def sandboxed(self) -> bool: ...

@final
class RunStartEvent:
    type: Literal["run_start"]
    session_id: str
    sandbox: Optional[RunSandbox]

@final
class ThinkingEvent:
    type: Literal["thinking"]
    text: str

@final
class TextEvent:
    type: Literal["text"]
    text: str

@final
class ToolCallEvent:
    type: Literal["tool_call"]
    id: str
    tool: str
    args: Dict[str, Any]

@final
class ToolResultEvent:
    type: Literal["tool_result"]
    id: str
    status: ToolStatus
    output: str

@final
class PermissionRequestEvent:
    type: Literal["permission_request"]
    id: str
    tool: str
    args: Dict[str, Any]
    sandbox: Optional[CallSandbox]
    @property
    def sandboxed(self) -> bool: ...
    def respond(self, decision: DecisionLike) -> None: ...

@final
class UsageEvent:
    type: Literal["usage"]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    unreported: bool
    web_search_requests: int
    """Server-side web searches of the call (`web_search=`)."""
    cost_usd: Optional[float]
    """What the model call cost in USD at list prices; None (not zero) when unknown."""

@final
class UserMessageEvent:
    """A message sent to the run while it worked (`send`, `interrupt`) was taken in."""

    type: Literal["user_message"]
    text: str

@final
class HookErrorEvent:
    """A hook raised, timed out, or answered something it may not; a failed `pre_tool_use`
    hook denies the call, any other is passed over."""

    type: Literal["hook_error"]
    hook: HookName
    message: str

@final
class RetryEvent:
    type: Literal["retry"]
    attempt: int
    delay_ms: int
    reason: str

@final
class CompactionEvent:
    type: Literal["compaction"]
    before_tokens: int
    after_tokens: int
    trimmed: int
    summarized: int

@final
class McpServerErrorEvent:
    type: Literal["mcp_server_error"]
    server: str
    message: str

@final
class McpWarningEvent:
    """A tool of a usable MCP server left out (invalid `inputSchema`, no name, a name
    taken); reported once per run, as soon as it is known."""

    type: Literal["mcp_warning"]
    server: str
    tool: Optional[str]
    message: str

@final
class WarningEvent:
    """Something to know that does not stop the run: a skill left out (its SKILL.md front
    matter is malformed, its name taken), a project instructions file cut to its size cap."""

    type: Literal["warning"]
    message: str
    path: Optional[str]

@final
class TodoItem:
    """One item of the task list the model keeps with `todo_write`."""

    content: str
    status: TodoStatus

@final
class TodoEvent:
    """The model changed its task list (`todo_write`): the whole list as it is now, in
    order; at most one item is `in_progress`."""

    type: Literal["todo"]
    todos: List[TodoItem]

WebSearchStatus = Literal["searching", "completed", "failed"]

@final
class WebSearchResult:
    """One page a server-side web search found."""

    url: str
    title: Optional[str]
    """The page's title (Anthropic gives one; OpenAI's sources have none)."""
    page_age: Optional[str]
    """How old the page is, as the provider words it (`"3 days ago"`)."""

@final
class WebSearchEvent:
    """A server-side web search (`web_search=`): the provider ran it on its own servers,
    not this machine. `id` is the provider's id of the search: a `searching` event, then a
    `completed` (with `results`, at most 100 shown) or `failed` one (with `error`, the
    provider's code such as `max_uses_exceeded`). `query` once known."""

    type: Literal["web_search"]
    id: str
    status: WebSearchStatus
    query: Optional[str]
    results: List[WebSearchResult]
    error: Optional[str]

@final
class CitationEvent:
    """The reply cites a page found by a server-side web search. `cited_text`: the
    passage quoted from the page (Anthropic) or the part of the reply that cites it
    (OpenAI), when known."""

    type: Literal["citation"]
    url: str
    title: Optional[str]
    cited_text: Optional[str]

@final
class ErrorEvent:
    type: Literal["error"]
    error: HarnextError

@final
class RunEndEvent(Generic[_T]):
    type: Literal["run_end"]
    result: RunResult[_T]

@final
class SubagentEvent:
    """An event of a subagent (the `agents` option): `agent` is its name, `call_id` the
    parent's `task` call that runs it, `event` its own event (its `run_start` first, its
    `run_end` last; a `permission_request` in it is answered as the parent's)."""

    type: Literal["subagent"]
    agent: str
    call_id: str
    event: AgentEvent[Any]

AgentEvent = Union[
    RunStartEvent,
    ThinkingEvent,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    PermissionRequestEvent,
    UsageEvent,
    RetryEvent,
    CompactionEvent,
    McpServerErrorEvent,
    McpWarningEvent,
    UserMessageEvent,
    HookErrorEvent,
    WarningEvent,
    TodoEvent,
    WebSearchEvent,
    CitationEvent,
    ErrorEvent,
    RunEndEvent[_T],
    SubagentEvent,
]

@final
class SandboxStatus:
    """What an agent's sandbox enforces."""

    requested: SandboxMode
    enforced: SandboxMode
    network: bool
    partial: bool
    """Some of the requested mode is not enforced (`sandbox_best_effort`)."""
    summary: str
    missing: List[str]

@final
class ForkedFrom:
    id: str
    at_message: int

@final
class SessionInfo:
    id: str
    created_at: int
    updated_at: int
    model: Optional[str]
    cwd: Optional[str]
    title: Optional[str]
    forked_from: Optional[ForkedFrom]

@final
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
    pending_approvals: List[PendingApproval]
    """Tool calls waiting for approvals (deferred decisions)."""
    todos: List[TodoItem]
    subagents: List[SubagentTranscript]
    """The transcripts of the subagents its `task` calls ran, in the order they ended."""

@final
class SubagentTranscript:
    """A subagent's run (a `task` call), kept in its parent's session."""

    call_id: str
    agent: str
    messages: List[Dict[str, Any]]
    usage: Usage
    """Its model calls' usage (also counted in the session's `usage`)."""
    stop_reason: StopReason

@final
class NotRestored:
    path: str
    reason: str

@final
class RewindResult:
    session_id: str
    to_message: int
    messages_removed: int
    restored: List[str]
    removed: List[str]
    not_restored: List[NotRestored]

class Tool:
    """A custom tool: a Python function the model may call. Make one with `@tool`."""

    name: str
    description: str
    input_schema: Dict[str, Any]
    read_only: bool
    fn: Callable[..., Any]
    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        input_schema: Optional[Dict[str, Any]] = None,
        read_only: bool = False,
    ) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    input_schema: Optional[Dict[str, Any]] = None,
    read_only: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...

class SystemPromptAppend(TypedDict):
    append: str

class ThinkingBudget(TypedDict):
    budget_tokens: int

class McpStdioServer(TypedDict):
    command: str
    args: NotRequired[List[str]]
    env: NotRequired[Dict[str, str]]
    cwd: NotRequired[str]
    startup_timeout_ms: NotRequired[int]
    tool_timeout_ms: NotRequired[int]
    max_result_bytes: NotRequired[int]
    sandbox: NotRequired[bool]

class AgentDefinition(TypedDict):
    """A subagent of the `agents` option, offered to the model through the `task` tool."""

    description: str
    """When to use it: the model sees it in the `task` tool's description."""
    system_prompt: str
    """Appended to the built-in coding-agent prompt of the subagent."""
    tools: List[str]
    """Built-in tool names and the names of the agent's custom tools (no `task`)."""
    model: NotRequired[str]
    max_steps: NotRequired[int]

class CheckpointLimits(TypedDict, total=False):
    """The limits of the `checkpoints` option (file checkpoints for `Agent.rewind`)."""
    max_file_bytes: int
    """Files larger than this are not checkpointed (reported by `rewind`). Default 1 MiB."""
    max_binary_bytes: int
    """Binary files larger than this are not checkpointed. Default 256 KiB."""
    max_run_bytes: int
    """The most bytes of file content a run keeps for checkpoints. Default 64 MiB."""
    max_baseline_files: int
    """Workspaces with more files than this checkpoint, for shell commands, only the files
    the run read or changed. Default 5000."""

class TracingOptions(TypedDict, total=False):
    """The `tracing` option: OpenTelemetry spans (GenAI semantic conventions) through
    `opentelemetry-api`, on when the application set a tracer provider."""

    record_content: bool
    """Record prompts, replies, tool arguments and outputs on the spans. Default False."""
    tracer_provider: Any
    """An OpenTelemetry `TracerProvider` to use instead of the global one."""

class McpHttpServer(TypedDict):
    url: str
    headers: NotRequired[Dict[str, str]]
    startup_timeout_ms: NotRequired[int]
    tool_timeout_ms: NotRequired[int]
    max_result_bytes: NotRequired[int]

class ScriptToolCall(TypedDict):
    name: str
    id: NotRequired[str]
    args: NotRequired[Dict[str, Any]]

class ScriptUsage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int

class ScriptTurn(TypedDict, total=False):
    thinking: str
    text: str
    tool_calls: List[ScriptToolCall]
    usage: ScriptUsage
    delay_ms: int

# ---- hooks (issue 17): what each hook is given, and what it may answer ----------------

HookName = Literal[
    "pre_tool_use", "post_tool_use", "user_prompt_submit", "stop", "pre_compact", "session_start", "session_end"
]

class PreToolUseInput(TypedDict):
    event: Literal["pre_tool_use"]
    session: str
    id: str
    tool: str
    args: Dict[str, Any]

class PostToolUseInput(TypedDict):
    event: Literal["post_tool_use"]
    session: str
    id: str
    tool: str
    args: Dict[str, Any]
    status: Literal["ok", "error"]
    output: str

class UserPromptSubmitInput(TypedDict):
    event: Literal["user_prompt_submit"]
    session: str
    input: str

class StopHookResult(TypedDict):
    text: str

class StopInput(TypedDict):
    event: Literal["stop"]
    session: str
    result: StopHookResult
    continued: int

class PreCompactInput(TypedDict):
    event: Literal["pre_compact"]
    session: str
    trigger: Literal["auto", "overflow"]

class SessionStartInput(TypedDict):
    event: Literal["session_start"]
    session: str
    source: Literal["new", "resume"]

class SessionEndInput(TypedDict):
    event: Literal["session_end"]
    session: str
    reason: StopReason

class PreToolUseAnswer(TypedDict, total=False):
    """`allow` runs the call without asking (a mode that refuses it still does), `ask` hands
    it to the permission flow, `deny` answers the model with `message`; `args` replaces the
    arguments (later hooks see the new ones)."""

    decision: Literal["allow", "deny", "ask"]
    message: str
    args: Dict[str, Any]

class PostToolUseAnswer(TypedDict, total=False):
    output: str
    context: str

class UserPromptSubmitAnswer(TypedDict, total=False):
    decision: Literal["block"]
    reason: str
    context: str

class StopAnswer(TypedDict):
    decision: Literal["continue"]
    message: str

class PreCompactAnswer(TypedDict, total=False):
    instructions: str

class SessionStartAnswer(TypedDict, total=False):
    context: str

_PreAnswer = Union[PreToolUseAnswer, Literal["allow", "deny", "ask"], None]
PreToolUseHook = Callable[[PreToolUseInput], Union[_PreAnswer, Awaitable[_PreAnswer]]]
PostToolUseHook = Callable[
    [PostToolUseInput], Union[PostToolUseAnswer, None, Awaitable[Optional[PostToolUseAnswer]]]
]
UserPromptSubmitHook = Callable[
    [UserPromptSubmitInput], Union[UserPromptSubmitAnswer, None, Awaitable[Optional[UserPromptSubmitAnswer]]]
]
StopHook = Callable[[StopInput], Union[StopAnswer, None, Awaitable[Optional[StopAnswer]]]]
PreCompactHook = Callable[[PreCompactInput], Union[PreCompactAnswer, None, Awaitable[Optional[PreCompactAnswer]]]]
SessionStartHook = Callable[
    [SessionStartInput], Union[SessionStartAnswer, None, Awaitable[Optional[SessionStartAnswer]]]
]
SessionEndHook = Callable[[SessionEndInput], Union[None, Awaitable[None]]]

class Hooks(TypedDict, total=False):
    """The `hooks` option: per hook, a callable (sync or async) or a list run in order. A
    hook that raises or times out is a `hook_error` event; it denies the call for
    `pre_tool_use` and is passed over elsewhere. `timeout_ms` (default 60000) bounds each call."""

    pre_tool_use: Union[PreToolUseHook, Sequence[PreToolUseHook]]
    post_tool_use: Union[PostToolUseHook, Sequence[PostToolUseHook]]
    user_prompt_submit: Union[UserPromptSubmitHook, Sequence[UserPromptSubmitHook]]
    stop: Union[StopHook, Sequence[StopHook]]
    pre_compact: Union[PreCompactHook, Sequence[PreCompactHook]]
    session_start: Union[SessionStartHook, Sequence[SessionStartHook]]
    session_end: Union[SessionEndHook, Sequence[SessionEndHook]]
    timeout_ms: int

class RunStream(Generic[_T]):
    """The events of `stream()`: iterate it (the run starts when iteration starts); steer the
    run with `send()` and `interrupt()`; `close()` (or leaving the loop) cancels it."""

    def __iter__(self) -> "RunStream[_T]": ...
    def __next__(self) -> AgentEvent[_T]: ...
    def close(self) -> None: ...
    def send(self, message: str, *, urgent: bool = False) -> None: ...
    def interrupt(self, message: Optional[str] = None) -> None: ...

class AsyncRunStream(Generic[_T]):
    """`RunStream` for asyncio: `async for event in stream`; `await stream.aclose()`."""

    def __aiter__(self) -> "AsyncRunStream[_T]": ...
    async def __anext__(self) -> AgentEvent[_T]: ...
    async def aclose(self) -> None: ...
    def send(self, message: str, *, urgent: bool = False) -> None: ...
    def interrupt(self, message: Optional[str] = None) -> None: ...

_Path = Union[str, "os.PathLike[str]"]
_Input = Union[str, List[Message]]
PermissionCallback = Callable[[PermissionRequest], Union[DecisionLike, Awaitable[DecisionLike]]]

# ---- issue 19: a session store of your own -------------------------------------------

_Answer = Union[_T, Awaitable[_T]]

class SessionStore(Protocol):
    """A session store written in Python (``session_store=obj``): each method sync or
    async (an async one runs on harnext's own store event loop, not the caller's). An
    optional ``timeout_ms: int`` attribute sets each call's time limit (default 15000 ms).

    - ``acquire(session_id)``: a lease (a non-empty string) for one run, or ``None`` when
      another run holds the session (the run is refused).
    - ``append(session_id, records, lease)``: adds the records (dicts with a ``type``) at the
      end, all or none; raise when ``lease`` no longer holds the session.
    - ``release(session_id, lease)``: when the run ends.
    - ``load(session_id)``: the records in order (dicts or their JSON text), or ``None``.
    - ``list()``: every session id.

    A method that raises, answers the wrong shape or does not return in time ends the run
    with error code ``session_store`` naming it."""

    def acquire(self, session_id: str, /) -> _Answer[Optional[str]]: ...
    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str, /) -> _Answer[None]: ...
    def release(self, session_id: str, lease: str, /) -> _Answer[None]: ...
    def load(self, session_id: str, /) -> _Answer[Optional[Sequence[Union[Dict[str, Any], str]]]]: ...
    def list(self) -> _Answer[Sequence[str]]: ...

class Agent:
    """A coding agent: a model, a workspace, tools, and the sessions of its runs."""

    def __init__(
        self,
        model: str,
        *,
        cwd: Optional[_Path] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        system_prompt: Union[str, SystemPromptAppend, None] = None,
        tools: Optional[Sequence[Union[BuiltinToolName, Tool]]] = None,
        mcp_servers: Optional[Mapping[str, Union[McpStdioServer, McpHttpServer]]] = None,
        permission_mode: Optional[PermissionMode] = None,
        on_permission_request: Optional[PermissionCallback] = None,
        max_steps: Optional[int] = None,
        max_output_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        thinking: Union[bool, ThinkingBudget, None] = None,
        max_retries: Optional[int] = None,
        idle_timeout_ms: Optional[int] = None,
        stream_timeout_ms: Optional[int] = None,
        script: Optional[List[ScriptTurn]] = None,
        session_dir: Optional[_Path] = None,
        persist_session: Optional[bool] = None,
        context_window: Optional[int] = None,
        sandbox: Optional[SandboxMode] = None,
        network: Optional[bool] = None,
        writable_roots: Optional[Sequence[_Path]] = None,
        deny_read: Optional[Sequence[_Path]] = None,
        env_allow: Optional[Sequence[str]] = None,
        env_deny: Optional[Sequence[str]] = None,
        sandbox_best_effort: Optional[bool] = None,
        session_store: Union[str, SessionStore, None] = None,
        hooks: Optional[Hooks] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        project_instructions: Optional[bool] = None,
        skills: Optional[Sequence[_Path]] = None,
        web_fetch: Optional[WebFetchOptions] = None,
        agents: Optional[Mapping[str, AgentDefinition]] = None,
        tracing: Union[bool, TracingOptions, None] = None,
        checkpoints: Union[bool, CheckpointLimits, None] = None,
    ) -> None: ...
    @property
    def cwd(self) -> str: ...
    @property
    def system_prompt(self) -> str: ...
    def sandbox_status(self) -> SandboxStatus: ...
    @overload
    def run(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: None = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunResult[None]: ...
    @overload
    def run(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: type[_T],
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunResult[_T]: ...
    @overload
    def run(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: object,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunResult[Any]: ...
    @overload
    def stream(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: None = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunStream[None]: ...
    @overload
    def stream(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: type[_T],
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunStream[_T]: ...
    @overload
    def stream(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: object,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunStream[Any]: ...
    @overload
    async def arun(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: None = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunResult[None]: ...
    @overload
    async def arun(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: type[_T],
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunResult[_T]: ...
    @overload
    async def arun(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: object,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> RunResult[Any]: ...
    @overload
    def astream(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: None = None,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> AsyncRunStream[None]: ...
    @overload
    def astream(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: type[_T],
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> AsyncRunStream[_T]: ...
    @overload
    def astream(
        self,
        input: Optional[_Input] = None,
        *,
        cancel: Optional[CancelToken] = None,
        session_id: Optional[str] = None,
        output_schema: object,
        max_steps: Optional[int] = None,
        max_output_retries: Optional[int] = None,
        max_cost_usd: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_duration_ms: Optional[int] = None,
        parallel_tool_calls: Optional[bool] = None,
        web_search: Union[bool, WebSearchOptions, None] = None,
        approvals: Optional[Mapping[str, AnswerLike]] = None,
    ) -> AsyncRunStream[Any]: ...
    # Issue 17: steer a run of this agent going on on a session (run() on another thread,
    # an arun() task, a stream).
    def send(self, session_id: str, message: str, *, urgent: bool = False) -> None: ...
    def interrupt(self, session_id: str, message: Optional[str] = None) -> None: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...
    def __enter__(self) -> "Agent": ...
    def __exit__(self, *exc: object) -> None: ...
    async def __aenter__(self) -> "Agent": ...
    async def __aexit__(self, *exc: object) -> None: ...
    def rewind(self, session_id: str, *, to_message: int, fork: bool = False) -> RewindResult: ...
    @staticmethod
    def list_sessions(*, session_dir: Optional[_Path] = None, session_store: Union[str, SessionStore, None] = None) -> List[SessionInfo]: ...
    @staticmethod
    def load_session(id: str, *, session_dir: Optional[_Path] = None, session_store: Union[str, SessionStore, None] = None) -> SessionData: ...
    @staticmethod
    def fork_session(
        id: str, *, at_message: Optional[int] = None, session_dir: Optional[_Path] = None, session_store: Union[str, SessionStore, None] = None
    ) -> str: ...

__all__ = [
    "Agent",
    "CancelToken",
    "CompactionEvent",
    "Decision",
    "ErrorEvent",
    "ForkedFrom",
    "HarnextError",
    "McpServerErrorEvent",
    "McpWarningEvent",
    "PermissionRequest",
    "PermissionRequestEvent",
    "RetryEvent",
    "SubagentEvent",
    "SubagentTranscript",
    "RunEndEvent",
    "RunInterrupted",
    "RunResult",
    "RunStartEvent",
    "SandboxStatus",
    "RunSandbox",
    "CallSandbox",
    "SessionData",
    "SessionStore",
    "SessionInfo",
    "StopDetails",
    "TextEvent",
    "ThinkingEvent",
    "TodoEvent",
    "TodoItem",
    "WebSearchEvent",
    "WebSearchResult",
    "CitationEvent",
    "Tool",
    "ToolCallEvent",
    "ToolResultEvent",
    "ToolStep",
    "Usage",
    "UsageEvent",
    "WarningEvent",
    "builtin_tools",
    "tool",
    "NotRestored",
    "RewindResult",
    # Issues 17 and 19.
    "AsyncRunStream",
    "HookErrorEvent",
    "PendingApproval",
    "RunStream",
    "UserMessageEvent",
]
