"""Rewind from Python: files changed by edit_file and bash come back, the next request
holds only the earlier messages, a fork starts from the point, limits and a busy session."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from harnext import Agent, NotRestored, RewindResult

from conftest import Mock


def test_rewind_restores_files_and_cuts_the_conversation(mock: Mock, workspace: Path, session_dir: Path) -> None:
    (workspace / "a.txt").write_text("alpha\n")
    (workspace / "b.txt").write_text("beta\n")
    os.chmod(workspace / "b.txt", 0o600)
    mock.push(
        {"turn": {"text": "first done"}},
        {"turn": {"toolCalls": [{"name": "edit_file", "args": {"path": "a.txt", "old_text": "alpha", "new_text": "ALPHA"}}]}},
        {"turn": {"toolCalls": [{"name": "bash", "args": {"command": "rm b.txt && echo c > c.txt && echo more >> a.txt"}}]}},
        {"turn": {"text": "second done"}},
        {"turn": {"text": "third done"}},
    )
    agent = Agent("anthropic/claude-test", base_url=mock.url, api_key="sk-py", cwd=workspace, session_dir=session_dir)
    first = agent.run("first task")
    sid = first.session_id
    point = len(Agent.load_session(sid, session_dir=session_dir).messages)
    assert agent.run("second task", session_id=sid).success
    assert (workspace / "a.txt").read_text() == "ALPHA\nmore\n"

    r = agent.rewind(sid, to_message=point)
    assert isinstance(r, RewindResult)
    assert r.session_id == sid and r.to_message == point and r.messages_removed > 0
    assert r.restored == ["a.txt", "b.txt"]
    assert r.removed == ["c.txt"]
    assert r.not_restored == []
    assert (workspace / "a.txt").read_text() == "alpha\n"
    assert (workspace / "b.txt").read_text() == "beta\n"
    assert os.stat(workspace / "b.txt").st_mode & 0o777 == 0o600
    assert not (workspace / "c.txt").exists()

    agent.run("third task", session_id=sid)
    body = mock.requests()[-1]["body"]
    sent = json.dumps(body)
    assert "first task" in sent and "third task" in sent and "second task" not in sent

    with pytest.raises(ValueError, match="its history has"):
        agent.rewind(sid, to_message=99)
    with pytest.raises(TypeError, match="to_message"):
        agent.rewind(sid, to_message=True)
    with pytest.raises(ValueError, match="unknown session"):
        agent.rewind("sess_nope", to_message=0)


def test_fork_from_the_point_and_a_busy_session_refused(workspace: Path, session_dir: Path) -> None:
    (workspace / "big.txt").write_text("x" * 3000)
    (workspace / "small.txt").write_text("small\n")
    agent = Agent(
        "scripted",
        cwd=workspace,
        session_dir=session_dir,
        script=[
            {"tool_calls": [{"name": "bash", "args": {"command": "echo y >> big.txt; echo z >> small.txt"}}]},
            {"text": "done"},
            {"tool_calls": [{"name": "bash", "args": {"command": "sleep 1"}}]},
            {"text": "slept"},
        ],
    )
    run = agent.run("task")
    fork = agent.rewind(run.session_id, to_message=1, fork=True)
    assert fork.session_id != run.session_id
    assert fork.restored == ["big.txt", "small.txt"]
    assert fork.not_restored == []
    assert (workspace / "small.txt").read_text() == "small\n"
    assert (workspace / "big.txt").read_text() == "x" * 3000
    assert len(Agent.load_session(fork.session_id, session_dir=session_dir).messages) == 1

    done = threading.Event()
    t = threading.Thread(target=lambda: (agent.run("sleep", session_id=run.session_id), done.set()))
    t.start()
    time.sleep(0.4)
    with pytest.raises(ValueError, match="already running"):
        agent.rewind(run.session_id, to_message=0)
    t.join()
    assert done.is_set()
    assert NotRestored("a", "b").reason == "b"


def test_checkpoints_option_limits_off_and_typos(workspace: Path, session_dir: Path) -> None:
    def script() -> list:
        return [
            {"tool_calls": [{"name": "bash", "args": {"command": "echo y >> big.txt; echo z >> small.txt"}}]},
            {"text": "done"},
        ]

    (workspace / "big.txt").write_text("x" * 3000)
    (workspace / "small.txt").write_text("small\n")
    limited = Agent("scripted", cwd=workspace, session_dir=session_dir, script=script(),
                    checkpoints={"max_file_bytes": 1000})
    run = limited.run("task")
    r = limited.rewind(run.session_id, to_message=1)
    assert r.restored == ["small.txt"]
    assert [n.path for n in r.not_restored] == ["big.txt"]
    assert (workspace / "small.txt").read_text() == "small\n"
    assert (workspace / "big.txt").read_text() == "x" * 3000 + "y\n"

    off = Agent("scripted", cwd=workspace, session_dir=session_dir, script=script(), checkpoints=False)
    run = off.run("task")
    r = off.rewind(run.session_id, to_message=1)
    assert r.restored == []
    assert (workspace / "small.txt").read_text() == "small\nz\n"

    with pytest.raises(ValueError, match="did you mean `max_file_bytes`"):
        Agent("scripted", cwd=workspace, checkpoints={"max_fle_bytes": 1})
    with pytest.raises(TypeError, match="checkpoints"):
        Agent("scripted", cwd=workspace, checkpoints="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown limit `maxFileBytes`: did you mean `max_file_bytes`"):
        Agent("scripted", cwd=workspace, checkpoints={"maxFileBytes": 1})
    for bad in (-1, 1.5, 2**32, "10", True):
        with pytest.raises(ValueError, match="`checkpoints`: `max_run_bytes`: expected an integer from 0 to 4294967295"):
            Agent("scripted", cwd=workspace, checkpoints={"max_run_bytes": bad})
