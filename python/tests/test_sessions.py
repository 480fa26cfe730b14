"""Sessions: list, load, fork, resume; and one session format for both faces: a session a
Node run wrote resumes in Python, and the other way round."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

from harnext import Agent, SessionData, SessionInfo

from conftest import ROOT, Mock

NODE_SCRIPT = Path(__file__).with_name("node_session.mjs")


def agent_for(mock: Mock, cwd: Path, session_dir: Path) -> Agent:
    return Agent("anthropic/claude-test", base_url=mock.url, api_key="sk-py", cwd=cwd, session_dir=session_dir)


def test_list_load_fork_and_resume(mock: Mock, workspace: Path, session_dir: Path) -> None:
    mock.push(
        {"turn": {"text": "Creating it.", "toolCalls": [{"name": "write_file", "args": {"path": "x.txt", "content": "x"}}]}},
        {"turn": {"text": "Created."}},
        {"turn": {"text": "Still here."}},
    )
    agent = agent_for(mock, workspace, session_dir)
    first = agent.run("create x.txt")
    second = agent.run("are you there?", session_id=first.session_id)
    assert second.session_id == first.session_id
    # The resumed run sent the whole history.
    assert "create x.txt" in json.dumps(mock.requests()[-1]["body"])

    sessions = Agent.list_sessions(session_dir=session_dir)
    assert [s.id for s in sessions] == [first.session_id]
    info = sessions[0]
    assert isinstance(info, SessionInfo)
    assert info.title == "create x.txt" and info.model == "anthropic/claude-test"
    assert info.cwd == str(workspace.resolve()) and info.forked_from is None

    data = Agent.load_session(first.session_id, session_dir=session_dir)
    assert isinstance(data, SessionData)
    assert data.runs == 2 and [s.status for s in data.steps] == ["ok"]
    assert data.files_changed == ["x.txt"]
    roles = [m["role"] for m in data.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert data.messages[1]["content"][1]["type"] == "tool_use"

    fork = Agent.fork_session(first.session_id, at_message=2, session_dir=session_dir)
    forked = Agent.load_session(fork, session_dir=session_dir)
    assert forked.forked_from is not None and forked.forked_from.id == first.session_id
    assert forked.forked_from.at_message == 2
    # The cut left the tool call without its result: it got a cancelled one.
    assert len(forked.messages) == 3 and forked.messages[2]["content"][0]["status"] == "cancelled"


def test_unknown_sessions_and_bad_arguments_raise(session_dir: Path) -> None:
    with pytest.raises(ValueError, match="sess_nope"):
        Agent.load_session("sess_nope", session_dir=session_dir)
    with pytest.raises(ValueError):
        Agent.fork_session("sess_nope", session_dir=session_dir)
    with pytest.raises(TypeError, match="at_message"):
        Agent.fork_session("sess_nope", at_message="2", session_dir=session_dir)  # type: ignore[arg-type]
    assert Agent.list_sessions(session_dir=session_dir / "none") == []


def test_persist_session_false_keeps_nothing_on_disk(session_dir: Path) -> None:
    agent = Agent("scripted", script=[{"text": "a"}, {"text": "b"}], session_dir=session_dir, persist_session=False)
    r = agent.run("one")
    assert agent.run("two", session_id=r.session_id).success
    assert Agent.list_sessions(session_dir=session_dir) == []


def node(mock: Mock, cwd: Path, session_dir: Path, task: str, session_id: str = "") -> Dict[str, Any]:
    if shutil.which("node") is None or not list(ROOT.glob("harnext.*.node")):
        if os.environ.get("HARNEXT_REQUIRE_NODE") == "1":
            pytest.fail("the Node addon is not built")
        pytest.skip("the Node addon is not built (scripts/test.sh builds it)")
    out = subprocess.run(
        ["node", str(NODE_SCRIPT), mock.url, str(cwd), str(session_dir), task, session_id],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    data: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def test_a_node_session_resumes_in_python(mock: Mock, workspace: Path, session_dir: Path) -> None:
    mock.push(
        {"turn": {"text": "Noting.", "toolCalls": [{"name": "write_file", "args": {"path": "word.txt", "content": "PELICAN"}}]}},
        {"turn": {"text": "The word is noted."}},
    )
    from_node = node(mock, workspace, session_dir, "Remember the word PELICAN")
    sid = from_node["result"]["sessionId"]
    assert from_node["result"]["success"]

    mock.push({"turn": {"text": "PELICAN."}})
    result = agent_for(mock, workspace, session_dir).run("Which word?", session_id=sid)
    assert result.success and result.session_id == sid
    sent = json.dumps(mock.requests()[-1]["body"])
    for text in ("Remember the word PELICAN", "The word is noted.", "word.txt", "Which word?"):
        assert text in sent
    data = Agent.load_session(sid, session_dir=session_dir)
    assert data.runs == 2 and len(data.messages) == 6 and [s.tool for s in data.steps] == ["write_file"]


def test_a_python_session_resumes_in_node(mock: Mock, workspace: Path, session_dir: Path) -> None:
    mock.push(
        {"turn": {"text": "Noting.", "toolCalls": [{"name": "write_file", "args": {"path": "w.txt", "content": "HERON"}}]}},
        {"turn": {"text": "Noted HERON."}},
    )
    first = agent_for(mock, workspace, session_dir).run("Remember the word HERON")
    assert first.success
    mock.push({"turn": {"text": "HERON."}})
    from_node = node(mock, workspace, session_dir, "Which word?", first.session_id)
    assert from_node["result"]["success"] and from_node["result"]["sessionId"] == first.session_id
    sent = json.dumps(mock.requests()[-1]["body"])
    for text in ("Remember the word HERON", "Noted HERON.", "w.txt", "Which word?"):
        assert text in sent
    assert from_node["runs"] == 2 and from_node["messages"] == 6 and from_node["steps"] == ["ok"]
