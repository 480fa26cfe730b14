"""harnext: a coding-agent harness with an in-process Rust engine.

``Agent(...)``, then ``agent.run(task)`` or ``for event in agent.stream(task)``; asyncio:
``await agent.arun(task)``, ``async for event in agent.astream(task)``. Cancel with a
``CancelToken``, Ctrl-C, or by leaving the stream. Types: ``__init__.pyi``."""

from ._native import CancelToken, builtin_tool_names as _builtin_tool_names
from ._agent import Agent, AsyncRunStream, RunStream
from ._callbacks import Tool, tool
from ._store import SessionStore
from ._types import (
    CompactionEvent,
    Decision,
    ErrorEvent,
    ForkedFrom,
    HarnextError,
    McpServerErrorEvent,
    McpWarningEvent,
    PermissionRequest,
    PermissionRequestEvent,
    RetryEvent,
    RunEndEvent,
    RunInterrupted,
    RunResult,
    RunStartEvent,
    SandboxStatus,
    RunSandbox,
    CallSandbox,
    SessionData,
    SessionInfo,
    StopDetails,
    SubagentEvent,
    SubagentTranscript,
    TextEvent,
    ThinkingEvent,
    TodoEvent,
    TodoItem,
    WebSearchEvent,
    WebSearchResult,
    CitationEvent,
    ToolCallEvent,
    ToolResultEvent,
    ToolStep,
    Usage,
    UsageEvent,
    # Issues 17 and 19.
    HookErrorEvent,
    PendingApproval,
    UserMessageEvent,
    WarningEvent,
)
from ._types import NotRestored, RewindResult

builtin_tools = tuple(_builtin_tool_names())
"""The built-in tool names: ``tools=[*builtin_tools, my_tool]`` keeps them."""

__version__ = "0.1.0"

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
