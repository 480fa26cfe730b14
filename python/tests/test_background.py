"""Background shells through the Python face (engine tools: nothing binding-side): `bash`
with `background: true`, `bash_output` read twice, `bash_kill`, and a cancel that leaves no
process of theirs alive."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from harnext import Agent, CancelToken

# Unique to this test process: the sleeps are found by their command lines.
MARK = f"{os.getpid():07d}"


def sleeping(arg: str) -> bool:
    wanted = b"sleep\0" + arg.encode() + b"\0"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() != wanted:
                    continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except (OSError, IndexError):
            continue
    return False


def call(name: str, args: Dict[str, Any]) -> Dict[str, Any]:
    return {"toolCalls": [{"name": name, "args": args}]}


def test_a_background_command_is_read_twice_and_killed(workspace: Path) -> None:
    arg = f"180.{MARK}"
    server = (
        "echo first; touch first.flag; while [ ! -f go ]; do sleep 0.02; done; "
        f"echo second; touch second.flag; exec sleep {arg}"
    )
    script: List[Dict[str, Any]] = [
        call("bash", {"command": server, "background": True}),
        call("bash", {"command": "while [ ! -f first.flag ]; do sleep 0.02; done; sleep 0.2"}),
        call("bash_output", {"id": "bash_1"}),
        call("bash", {"command": "touch go; while [ ! -f second.flag ]; do sleep 0.02; done; sleep 0.2"}),
        call("bash_output", {"id": "bash_1"}),
        call("bash_kill", {"id": "bash_1"}),
        {"text": "done"},
    ]
    result = Agent("scripted", script=script, cwd=workspace, persist_session=False).run("serve")
    assert result.success, result.error
    outputs = [(s.tool, s.output) for s in result.steps]
    assert "with id bash_1" in outputs[0][1]
    assert outputs[2] == ("bash_output", "first\nbash_1: running")
    assert outputs[4] == ("bash_output", "second\nbash_1: running")
    assert outputs[5][1].startswith("Killed bash_1.")
    assert not sleeping(arg)


def test_a_cancel_leaves_no_background_process_alive(workspace: Path) -> None:
    args = [f"181.{MARK}{n}" for n in range(4)]
    family = (
        f"setsid sleep {args[0]} >/dev/null 2>&1 & nohup sleep {args[1]} >/dev/null 2>&1 & "
        f"(sleep {args[2]} >/dev/null 2>&1 &); exec sleep {args[3]}"
    )
    script: List[Dict[str, Any]] = [
        call("bash", {"command": family, "background": True}),
        call("bash", {"command": "sleep 30"}),
        {"text": "never"},
    ]
    cancel = CancelToken()

    def later() -> None:
        for _ in range(500):
            if all(sleeping(a) for a in args):
                break
            time.sleep(0.01)
        cancel.cancel()

    t = threading.Thread(target=later)
    t.start()
    result = Agent("scripted", script=script, cwd=workspace, persist_session=False).run("go", cancel=cancel)
    t.join()
    assert result.cancelled and result.stop_reason == "cancelled"
    assert [a for a in args if sleeping(a)] == []
