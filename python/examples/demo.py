#!/usr/bin/env python3
"""harnext demo, the Python twin of examples/demo.mjs: an agent fixes the failing tests of
a tiny sample repository, every event rendered as it streams.

    python python/examples/demo.py           # offline: replays a scripted model
    ANTHROPIC_API_KEY=sk-... python python/examples/demo.py [task]

The sample repository (examples/sample-repo) is copied to a scratch directory first. Ctrl-C
cancels the run cleanly (the KeyboardInterrupt carries the cancelled result). Exit code: 0
when the run succeeds, 1 when it fails, 130 when cancelled."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from harnext import Agent, RunInterrupted, RunResult

if TYPE_CHECKING:
    from harnext import ScriptTurn  # a TypedDict of the stubs

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "examples" / "sample-repo"
DEFAULT_TASK = "Fix the failing test in this repository; run the tests with `node --test test/` to check."
OLD_TEXT = "  return list.items.filter((t) => t.done);"
NEW_TEXT = "  return list.items.filter((t) => !t.done);"
TEST_CMD = "node --test test/"

SCRIPT: "List[ScriptTurn]" = [
    {
        "delay_ms": 20,
        "thinking": "First I should read the code under test and the tests, then reproduce the failure.",
        "text": "I'll start by reading the todo module and its tests.",
        "tool_calls": [
            {"name": "read_file", "args": {"path": "src/todo.js"}},
            {"name": "read_file", "args": {"path": "test/todo.test.js"}},
        ],
        "usage": {"input_tokens": 2184, "output_tokens": 97, "cache_write_tokens": 1890},
    },
    {
        "delay_ms": 20,
        "text": "Now let me run the test suite to see what fails.",
        "tool_calls": [{"name": "bash", "args": {"command": TEST_CMD}}],
        "usage": {"input_tokens": 1312, "output_tokens": 38, "cache_read_tokens": 2184},
    },
    {
        "delay_ms": 20,
        "text": "`remaining()` keeps the todos that are done instead of the open ones. Fixing the filter:",
        "tool_calls": [{"name": "edit_file", "args": {"path": "src/todo.js", "old_text": OLD_TEXT, "new_text": NEW_TEXT}}],
        "usage": {"input_tokens": 1046, "output_tokens": 164, "cache_read_tokens": 3496},
    },
    {
        "delay_ms": 20,
        "text": "Re-running the tests to confirm the fix:",
        "tool_calls": [{"name": "bash", "args": {"command": TEST_CMD}}],
        "usage": {"input_tokens": 96, "output_tokens": 35, "cache_read_tokens": 4542},
    },
    {
        "delay_ms": 20,
        "text": "All tests pass now: `remaining()` filtered with `t.done`; negating it fixes both failing tests.",
        "usage": {"input_tokens": 412, "output_tokens": 88, "cache_read_tokens": 4638},
    },
]


def main() -> int:
    live = bool(os.environ.get("ANTHROPIC_API_KEY", "").strip())
    model = "anthropic/" + os.environ.get("HARNEXT_MODEL", "claude-sonnet-4-5").removeprefix("anthropic/") if live else "scripted"
    task = " ".join(sys.argv[1:]).strip() or DEFAULT_TASK if live else DEFAULT_TASK
    workspace = Path(tempfile.mkdtemp(prefix="harnext-demo-py-"))
    shutil.copytree(SAMPLE_REPO, workspace, dirs_exist_ok=True)
    os.environ.setdefault("NODE_OPTIONS", "--test-reporter=spec")

    print("harnext demo (Python)")
    print(f"workspace  {workspace} (copy of examples/sample-repo)")
    print(f"model      {model}")
    print(f"task       {task}\n")

    result: Optional[RunResult[None]] = None
    with Agent(model, cwd=workspace, script=None if live else SCRIPT) as agent:
        dim = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        last = ""
        try:
            for event in agent.stream(task):
                if event.type == "thinking":
                    print(f"\x1b[2m{event.text}\x1b[22m" if dim else event.text, end="", flush=True)
                elif event.type == "text":
                    print(("\n" if last == "thinking" else "") + event.text, end="", flush=True)
                elif event.type == "tool_call":
                    print(f"\n⏺ {event.tool}({', '.join(f'{k}={str(v)[:40]!r}' for k, v in event.args.items())})")
                elif event.type == "tool_result":
                    first = event.output.strip().splitlines()[:1]
                    print(f"  ↳ {event.status}" + (f" · {first[0][:80]}" if first else ""))
                elif event.type == "error":
                    print(f"\nerror: {event.error.code}: {event.error.message}")
                elif event.type == "run_end":
                    result = event.result
                last = event.type
        except RunInterrupted as interrupt:
            result = interrupt.result
            print(f"\ncancelled after {len(result.steps)} tool calls · session {result.session_id}")
            return 130
    assert result is not None
    print("\n" + "─" * 64)
    status = "✓ done" if result.success else f"✗ {result.stop_reason}"
    print(f"{status} · {len(result.steps)} tool calls · {result.duration_ms / 1000:.1f}s")
    print(f"  files changed  {', '.join(result.files_changed) or '(none)'}")
    u = result.usage
    print(f"  usage          {u.input_tokens:,} in · {u.output_tokens:,} out · {u.cache_read_tokens:,} cache read")
    print(f"  session        {result.session_id}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
