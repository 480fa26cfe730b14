"""The sandbox options (issue 16) through the Python face: commands of a scripted model run
confined on the defaults, and each option changes what they may do (or raises naming it)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from harnext import Agent, Decision, SandboxStatus

from conftest import ROOT


def bash(*commands: str) -> List[Any]:
    turns: List[Any] = [{"tool_calls": [{"name": "bash", "args": {"command": c}}]} for c in commands]
    return turns + [{"text": "done"}]


def outputs(workspace: Path, commands: List[str], **options: Any) -> List[str]:
    agent = Agent("scripted", cwd=workspace, persist_session=False, script=bash(*commands), **options)
    result = agent.run("go")
    assert result.success, result.error
    return [s.output for s in result.steps]


def test_bad_sandbox_options_raise_naming_the_option(workspace: Path) -> None:
    cases: List[Tuple[Dict[str, Any], type, str]] = [
        ({"sandbox": "strict"}, ValueError, "`sandbox`"),
        ({"sandbox": 1}, TypeError, "`sandbox`"),
        ({"network": "yes"}, TypeError, "`network`"),
        ({"writable_roots": "/tmp"}, TypeError, "`writable_roots`"),
        ({"deny_read": [3]}, TypeError, "`deny_read[0]`"),
        ({"env_allow": "X"}, TypeError, "`env_allow`"),
        ({"env_deny": [None]}, TypeError, "`env_deny[0]`"),
        ({"sandbox_best_effort": "no"}, TypeError, "`sandbox_best_effort`"),
        ({"writable_roots": ["does/not/exist"]}, ValueError, "writable root"),
    ]
    for options, error, words in cases:
        with pytest.raises(error) as info:
            Agent("scripted", cwd=workspace, script=[], **options)
        assert words in str(info.value), (options, str(info.value))


def test_writes_outside_the_workspace_are_blocked_unless_a_writable_root_or_off(workspace: Path) -> None:
    # Not under /tmp: the temp directories are writable in the sandbox.
    outside = Path(tempfile.mkdtemp(prefix="sandbox-outside-", dir=ROOT / "target"))
    write = f"echo pwned > {outside}/x.txt"
    out = outputs(workspace, [write, "echo fine > ok.txt && cat ok.txt"])
    assert "[sandbox]" in out[0] and not (outside / "x.txt").exists(), out[0]
    assert out[1] == "fine\nexit code: 0"
    out = outputs(workspace, [write], writable_roots=[outside])
    assert (outside / "x.txt").read_text() == "pwned\n", out
    (outside / "x.txt").unlink()
    outputs(workspace, [write], sandbox="off")
    assert (outside / "x.txt").exists()
    (outside / "x.txt").unlink()
    out = outputs(workspace, ["echo nope > in.txt"], sandbox="read-only")
    assert not (workspace / "in.txt").exists(), out
    shutil.rmtree(outside)


def test_deny_read_and_the_environment_lists(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workspace / "private.txt").write_text("TOP SECRET\n")
    out = outputs(workspace, ["cat private.txt"], deny_read=["private.txt"])
    assert "TOP SECRET" not in out[0], out[0]
    assert "TOP SECRET" in outputs(workspace, ["cat private.txt"])[0]
    monkeypatch.setenv("HARNEXT_PY_API_TOKEN", "tok-123")
    monkeypatch.setenv("HARNEXT_PY_PLAIN", "plain-456")
    show = "echo token=$HARNEXT_PY_API_TOKEN plain=$HARNEXT_PY_PLAIN"
    out = outputs(workspace, [show])
    assert "tok-123" not in out[0] and "plain-456" in out[0], out[0]
    out = outputs(workspace, [show], env_allow=["HARNEXT_PY_API_*"], env_deny=["HARNEXT_PY_PLAIN"])
    assert "tok-123" in out[0] and "plain-456" not in out[0], out[0]


def test_network_is_off_unless_allowed(workspace: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except OSError:
                continue

    t = threading.Thread(target=serve)
    t.start()
    try:
        connect = f"(exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED) 2>&1"
        assert "CONNECTED" not in outputs(workspace, [connect])[0]
        assert "CONNECTED" in outputs(workspace, [connect], network=True)[0]
    finally:
        stop.set()
        t.join()
        listener.close()


def test_sandbox_status_tells_what_is_enforced(workspace: Path) -> None:
    status = Agent("scripted", cwd=workspace, script=[]).sandbox_status()
    assert isinstance(status, SandboxStatus)
    assert (status.requested, status.enforced, status.network, status.partial) == ("workspace-write", "workspace-write", False, False)
    assert status.summary and status.missing == []
    status = Agent("scripted", cwd=workspace, script=[], sandbox="read-only", network=True).sandbox_status()
    assert (status.requested, status.enforced, status.network) == ("read-only", "read-only", True)
    status = Agent("scripted", cwd=workspace, script=[], sandbox="off").sandbox_status()
    assert status.enforced == "off"


def test_best_effort_is_accepted(workspace: Path) -> None:
    out = outputs(workspace, ["echo ok"], sandbox_best_effort=True)
    assert out[0] == "ok\nexit code: 0"


def test_run_start_carries_the_chosen_and_the_enforced_sandbox(workspace: Path) -> None:
    # Without a sandbox nothing keeps commands off the network: `network` says so.
    cases: List[Tuple[Dict[str, Any], str, str, bool]] = [
        ({}, "workspace-write", "workspace-write", False),
        ({"network": True}, "workspace-write", "workspace-write", True),
        ({"sandbox": "off"}, "off", "off", True),
    ]
    for options, requested, enforced, network in cases:
        agent = Agent("scripted", cwd=workspace, persist_session=False, script=[{"text": "hi"}], **options)
        first = next(iter(agent.stream("go")))
        assert first.type == "run_start"
        assert first.sandbox is not None
        assert (first.sandbox.requested, first.sandbox.enforced, first.sandbox.network) == (requested, enforced, network)
        assert first.sandbox.enforced == agent.sandbox_status().enforced


def test_a_permission_request_says_sandboxed_and_an_escalation_opens_the_network_for_one_call(workspace: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except OSError:
                continue

    t = threading.Thread(target=serve)
    t.start()
    seen: List[Any] = []

    def decide(req: Any) -> Any:
        seen.append(req)
        if req.tool == "bash" and len(seen) == 1:
            return Decision("allow", escalate={"network": True})
        return "allow"

    try:
        connect = f"(exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED) 2>&1"
        script: List[Any] = [
            {"tool_calls": [{"name": "bash", "args": {"command": connect}}]},
            {"tool_calls": [{"name": "bash", "args": {"command": connect}}]},
            {"tool_calls": [{"name": "write_file", "args": {"path": "a.txt", "content": "x"}}]},
            {"text": "done"},
        ]
        agent = Agent(
            "scripted",
            cwd=workspace,
            persist_session=False,
            script=script,
            permission_mode="manual",
            on_permission_request=decide,
        )
        result = agent.run("go")
        assert result.success, result.error
        assert [r.sandboxed for r in seen] == [True, True, False]
        assert seen[0].sandbox is not None and seen[0].sandbox.mode == "workspace-write"
        assert seen[0].sandbox.network is False
        assert "CONNECTED" in result.steps[0].output, result.steps[0].output
        assert "CONNECTED" not in result.steps[1].output, result.steps[1].output
    finally:
        stop.set()
        t.join()
        listener.close()


def test_an_escalation_of_a_tool_outside_the_sandbox_is_denied_saying_why(workspace: Path) -> None:
    script: List[Any] = [
        {"tool_calls": [{"name": "write_file", "args": {"path": "a.txt", "content": "x"}}]},
        {"text": "done"},
    ]
    agent = Agent(
        "scripted",
        cwd=workspace,
        persist_session=False,
        script=script,
        permission_mode="manual",
        on_permission_request=lambda req: {"behavior": "allow", "escalate": {"network": True}},
    )
    result = agent.run("go")
    assert result.steps[0].status == "denied", result.steps[0]
    assert "does not run in the sandbox" in result.steps[0].output
    assert not (workspace / "a.txt").exists()
