"""Session stores on real PostgreSQL and Redis servers (issue 19) from Python:
`session_store=` on Agent and on list/load/fork_session, deferred approvals answered
from another process, a session written from Node read and answered in Python, and URL
passwords kept out of everything Python shows. scripts/test.sh (scripts/test-servers.sh)
starts the servers and exports HARNEXT_TEST_POSTGRES_URL / HARNEXT_TEST_REDIS_URL; with
HARNEXT_TEST_STORES=required a missing URL fails the tests instead of skipping them."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import quote

import pytest

from harnext import Agent, Decision, RunEndEvent

from conftest import ROOT

HERE = Path(__file__).resolve().parent
REQUIRED = os.environ.get("HARNEXT_TEST_STORES") == "required"


def store_url(name: str) -> str:
    var = f"HARNEXT_TEST_{name.upper()}_URL"
    url = os.environ.get(var)
    if not url:
        if REQUIRED:
            pytest.fail(f"{var} is not set but HARNEXT_TEST_STORES=required")
        pytest.skip(f"{var} is not set (scripts/test.sh starts the servers)")
    if name == "redis":
        # A key prefix of its own per test, a short lease.
        return f"{url}/?prefix=py{uuid.uuid4().hex[:10]}&lease_ms=1500"
    return url


STORES = [pytest.param("postgres", id="postgres"), pytest.param("redis", id="redis")]


def workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="harnext-py-store-"))


def run_elsewhere(store: str, cwd: Path, spec: Dict[str, Any]) -> Dict[str, Any]:
    """A run in a Python process of its own (fixtures/approvals_run.py); its result."""
    out = subprocess.run(
        [sys.executable, str(HERE / "fixtures" / "approvals_run.py"), store, str(cwd), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    data: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.parametrize("name", STORES)
def test_a_session_in_a_store_is_listed_loaded_forked_and_continued(name: str) -> None:
    store = store_url(name)
    cwd = workspace()
    agent = Agent(
        "scripted",
        cwd=cwd,
        session_store=store,
        script=[{"tool_calls": [{"name": "bash", "args": {"command": "echo stored-out"}}]}, {"text": "First."}],
    )
    first = agent.run("note, then answer")
    assert first.success, first.error
    later = Agent("scripted", cwd=cwd, session_store=store, script=[{"text": "Second."}])
    second = later.run("more", session_id=first.session_id)
    assert second.success and second.session_id == first.session_id
    data = Agent.load_session(first.session_id, session_store=store)
    assert data.runs == 2
    assert [m["role"] for m in data.messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert "stored-out" in json.dumps(data.messages)
    assert data.pending_approvals == []
    listed = Agent.list_sessions(session_store=store)
    assert any(s.id == first.session_id and s.title == "note, then answer" for s in listed)
    fork = Agent.fork_session(first.session_id, at_message=3, session_store=store)
    forked = Agent.load_session(fork, session_store=store)
    assert forked.forked_from is not None and (forked.forked_from.id, forked.forked_from.at_message) == (first.session_id, 3)
    assert len(forked.messages) == 3
    with pytest.raises(ValueError):
        Agent.load_session("sess_nothing1234", session_store=store)


@pytest.mark.parametrize("name", STORES)
def test_a_deferred_approval_is_answered_from_another_process_and_nothing_runs_twice(name: str) -> None:
    store = store_url(name)
    cwd = workspace()
    agent = Agent(
        "scripted",
        cwd=cwd,
        session_store=store,
        permission_mode="manual",
        on_permission_request=lambda req: Decision("defer"),
        script=[
            {
                "text": "Doing both.",
                "tool_calls": [
                    {"id": "call_write", "name": "write_file", "args": {"path": "a.txt", "content": "approved\n"}},
                    {"id": "call_count", "name": "bash", "args": {"command": "echo ran >> count.txt"}},
                ],
            },
            {"text": "never"},
        ],
    )
    first = agent.run("write and count")
    assert first.stop_reason == "awaiting_approval"
    assert first.success is False and first.error is None
    assert [dataclasses.asdict(p) for p in first.pending_approvals] == [
        {"id": "call_write", "tool": "write_file", "args": {"path": "a.txt", "content": "approved\n"}},
        {"id": "call_count", "tool": "bash", "args": {"command": "echo ran >> count.txt"}},
    ]
    assert not (cwd / "a.txt").exists()
    waiting = Agent.load_session(first.session_id, session_store=store)
    assert [p.id for p in waiting.pending_approvals] == ["call_write", "call_count"]

    second = run_elsewhere(
        store,
        cwd,
        {
            "approvals": {"call_write": "allow", "call_count": {"behavior": "deny", "message": "Not now."}},
            "session_id": first.session_id,
            "script": [{"text": "Finished."}],
        },
    )
    assert second["success"], second["error"]
    assert second["text"] == "Finished."
    assert [(s["id"], s["status"]) for s in second["steps"]] == [("call_write", "ok"), ("call_count", "denied")]
    assert (cwd / "a.txt").read_text() == "approved\n"
    assert not (cwd / "count.txt").exists()
    done = Agent.load_session(first.session_id, session_store=store)
    assert done.pending_approvals == []
    assert "Not now." in json.dumps(done.messages)
    # Answered once: a second answer finds nothing waiting, and nothing runs again.
    again = Agent("scripted", cwd=cwd, session_store=store, script=[{"text": "x"}])
    with pytest.raises(ValueError, match="no tool calls waiting for approval"):
        again.run(approvals={"call_write": "allow"}, session_id=first.session_id)
    assert (cwd / "a.txt").read_text() == "approved\n"


def test_a_session_written_from_node_is_loaded_and_answered_in_python_through_postgresql() -> None:
    store = store_url("postgres")
    if shutil.which("node") is None or not (ROOT / "index.js").exists():
        if os.environ.get("HARNEXT_REQUIRE_NODE") == "1":
            pytest.fail("node or the Node addon is missing")
        pytest.skip("the Node addon is not built (scripts/test.sh builds it)")
    cwd = workspace()
    spec = {
        "input": "write it",
        "onPermission": "defer",
        "script": [{"text": "Writing.", "toolCalls": [{"id": "call_n", "name": "write_file", "args": {"path": "n.txt", "content": "from node\n"}}]}],
    }
    out = subprocess.run(
        ["node", str(ROOT / "__test__" / "fixtures" / "approvals-run.mjs"), store, str(cwd), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    from_node = json.loads(out.stdout.strip().splitlines()[-1])
    assert from_node["stopReason"] == "awaiting_approval"
    sid = from_node["sessionId"]

    data = Agent.load_session(sid, session_store=store)
    assert data.model == "scripted" and data.runs == 1
    assert data.messages[0] == {"role": "user", "content": [{"type": "text", "text": "write it"}]}
    assert [(p.id, p.tool, p.args) for p in data.pending_approvals] == [("call_n", "write_file", {"path": "n.txt", "content": "from node\n"})]
    assert any(s.id == sid for s in Agent.list_sessions(session_store=store))

    agent = Agent("scripted", cwd=cwd, session_store=store, script=[{"text": "Written from Python."}])
    result = agent.run(approvals={"call_n": "allow"}, session_id=sid)
    assert result.success, result.error
    assert (cwd / "n.txt").read_text() == "from node\n"
    after = Agent.load_session(sid, session_store=store)
    assert after.runs == 2 and after.pending_approvals == []
    assert after.messages[-1]["content"][0]["text"] == "Written from Python."


def test_a_password_in_the_store_url_reaches_no_event_result_session_error_or_repr() -> None:
    secret = f"Pw@{uuid.uuid4().hex[:8]}/x"
    forms = [secret, quote(secret, safe="")]

    def leaks(text: str) -> List[str]:
        return [f for f in forms if f in text]

    # PostgreSQL trusts 127.0.0.1 in the tests: the password is in the URL, never checked.
    pg = store_url("postgres").replace("://harnext@", f"://harnext:{quote(secret, safe='')}@")
    assert quote(secret, safe="") in pg
    cwd = workspace()
    agent = Agent(
        "scripted",
        cwd=cwd,
        session_store=pg,
        permission_mode="manual",
        on_permission_request=lambda req: "defer",
        script=[{"tool_calls": [{"id": "call_echo", "name": "bash", "args": {"command": "echo hi"}}]}, {"text": "Done."}],
    )
    seen: List[Any] = list(agent.stream("echo something"))
    end = seen[-1]
    assert isinstance(end, RunEndEvent) and end.result.stop_reason == "awaiting_approval"
    sid = end.result.session_id
    seen += list(agent.stream(approvals={"call_echo": "allow"}, session_id=sid))
    assert seen[-1].result.success
    seen.append(Agent.load_session(sid, session_store=pg))
    seen.append(Agent.list_sessions(session_store=pg))
    seen.append(Agent.fork_session(sid, session_store=pg))
    seen.append(agent)
    text = repr(seen)
    assert "hi" in text and "Done." in text
    assert leaks(text) == []

    # Stores that fail: the errors say what failed, not what was sent.
    with pytest.raises(ValueError) as bad_url:
        Agent("scripted", session_store=f"mysql://u:{quote(secret, safe='')}@h/db")
    assert "session_store" in str(bad_url.value) and leaks(str(bad_url.value)) == []
    with pytest.raises(RuntimeError) as unreachable:
        Agent.list_sessions(session_store=f"postgres://u:{quote(secret, safe='')}@127.0.0.1:1/db")
    assert "session store" in str(unreachable.value) and leaks(str(unreachable.value)) == []
    down = Agent("scripted", cwd=workspace(), session_store=f"redis://u:{quote(secret, safe='')}@127.0.0.1:1", script=[{"text": "x"}])
    # A new session is written lazily: its first write fails and the run ends with the
    # error code session_store.
    failed = down.run("x")
    assert failed.error is not None and failed.error.code == "session_store", failed
    assert "session store redis://<redacted>@127.0.0.1:1" in failed.error.message
    assert leaks(repr(failed)) == []
