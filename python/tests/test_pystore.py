"""A session store written in Python (`session_store=obj` with acquire, append, release,
load, list; sync or async): a dict store drives runs with a tool, a resumed run,
list/load/fork; a busy session is refused; a store that raises, answers the wrong shape
or never returns ends the run with a `session_store` error naming the method, with no
hang and the stored records intact; a session written from Node through a JSON-file
store is read in Python through the same file."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from harnext import Agent

from conftest import ROOT


def workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="harnext-pystore-"))


class Data:
    """What "the server" keeps: shared by the store objects of "other processes"."""

    def __init__(self) -> None:
        self.sessions: Dict[str, List[Dict[str, Any]]] = {}
        self.leases: Dict[str, str] = {}
        self.next = 0
        self.calls: List[tuple] = []
        self.lock = threading.Lock()


class DictStore:
    """Sessions in a dict, a lease per session, a fencing check on append."""

    def __init__(self, data: Optional[Data] = None) -> None:
        self.data = data or Data()

    def acquire(self, session_id: str) -> Optional[str]:
        d = self.data
        with d.lock:
            d.calls.append(("acquire", session_id))
            if session_id in d.leases:
                return None
            d.next += 1
            d.leases[session_id] = f"lease-{d.next}"
            return d.leases[session_id]

    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> None:
        d = self.data
        with d.lock:
            d.calls.append(("append", session_id, len(records)))
            if d.leases.get(session_id) != lease:
                raise RuntimeError(f"session {session_id} is not held by {lease}")
            d.sessions.setdefault(session_id, []).extend(copy.deepcopy(records))

    def release(self, session_id: str, lease: str) -> None:
        d = self.data
        with d.lock:
            d.calls.append(("release", session_id))
            if d.leases.get(session_id) == lease:
                del d.leases[session_id]

    def load(self, session_id: str) -> Optional[List[Dict[str, Any]]]:
        with self.data.lock:
            records = self.data.sessions.get(session_id)
            return copy.deepcopy(records) if records is not None else None

    def list(self) -> List[str]:
        with self.data.lock:
            return list(self.data.sessions)


class AsyncDictStore:
    """The same, every method async (awaiting for real)."""

    def __init__(self) -> None:
        self.inner = DictStore()
        self.data = self.inner.data
        self.loops: set = set()

    async def _tick(self) -> None:
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.001)

    async def acquire(self, session_id: str) -> Optional[str]:
        await self._tick()
        return self.inner.acquire(session_id)

    async def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> None:
        await self._tick()
        self.inner.append(session_id, records, lease)

    async def release(self, session_id: str, lease: str) -> None:
        await self._tick()
        self.inner.release(session_id, lease)

    async def load(self, session_id: str) -> Optional[List[Dict[str, Any]]]:
        await self._tick()
        return self.inner.load(session_id)

    async def list(self) -> List[str]:
        await self._tick()
        return self.inner.list()


def tool_script(tag: str) -> List[Dict[str, Any]]:
    return [
        {"text": "Running it.", "tool_calls": [{"id": f"call_{tag}", "name": "bash", "args": {"command": f"echo out-{tag}"}}]},
        {"text": f"Done {tag}."},
    ]


def test_a_run_with_a_tool_is_stored_resumed_listed_loaded_and_forked() -> None:
    cwd = workspace()
    store = DictStore()
    agent = Agent("scripted", cwd=cwd, session_store=store, permission_mode="auto", script=tool_script("a"))
    first = agent.run("first task")
    assert first.success, first.error
    sid = first.session_id
    stored = store.data.sessions[sid]
    assert [r["type"] for r in stored] == ["session", "run_start", "message", "message", "message", "message", "run_end"]
    assert "out-a" in json.dumps(stored)
    assert store.data.leases == {}, "the lease is released when the run ends"
    # The header went with the first record, in one append; each message after it in its own.
    assert [c[2] for c in store.data.calls if c[0] == "append"] == [2, 1, 1, 1, 1, 1]

    again = Agent("scripted", cwd=cwd, session_store=store, permission_mode="auto", script=tool_script("b"))
    second = again.run("second task", session_id=sid)
    assert second.success and second.session_id == sid, second.error
    data = Agent.load_session(sid, session_store=store)
    assert data.runs == 2
    texts = [c.get("text") for m in data.messages for c in m["content"] if c.get("type") == "text"]
    assert "first task" in texts and "second task" in texts and "Done b." in texts
    listed = Agent.list_sessions(session_store=store)
    assert [s.id for s in listed] == [sid] and listed[0].title == "first task"
    fork = Agent.fork_session(sid, at_message=1, session_store=store)
    assert fork != sid and fork in store.data.sessions
    forked = Agent.load_session(fork, session_store=store)
    assert len(forked.messages) == 1 and forked.forked_from is not None and forked.forked_from.id == sid
    assert store.data.leases == {}
    with pytest.raises(ValueError):
        Agent.load_session("sess_none", session_store=store)


def test_a_busy_session_is_refused_here_and_from_another_process() -> None:
    cwd = workspace()
    store = DictStore()
    sid = Agent("scripted", cwd=cwd, session_store=store, script=[{"text": "Hi."}]).run("start").session_id
    slow = Agent(
        "scripted", cwd=cwd, session_store=store, permission_mode="auto",
        script=[{"tool_calls": [{"id": "call_slow", "name": "bash", "args": {"command": "sleep 1"}}]}, {"text": "Slept."}],
    )
    out: Dict[str, Any] = {}
    t = threading.Thread(target=lambda: out.setdefault("r", slow.run("sleep", session_id=sid)))
    t.start()
    deadline = time.monotonic() + 10
    while sid not in store.data.leases:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    other = Agent("scripted", cwd=cwd, session_store=store, script=[{"text": "no"}])
    with pytest.raises(Exception, match="already running"):
        other.run("me too", session_id=sid)
    # Another object over the same data, as another process would have: its lease refuses.
    elsewhere = Agent("scripted", cwd=cwd, session_store=DictStore(store.data), script=[{"text": "no"}])
    with pytest.raises(Exception, match="being run by another process"):
        elsewhere.run("me too", session_id=sid)
    t.join(30)
    assert out["r"].success, out["r"].error
    assert elsewhere.run("now", session_id=sid).success
    assert Agent.load_session(sid, session_store=store).runs == 3


class FailingAppend(DictStore):
    timeout_ms = 300

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.count = 0

    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> Any:
        self.count += 1
        if self.count == 3:  # the assistant's turn with its tool call
            if self.how == "raises":
                raise OSError("bucket gone")
            if self.how == "raises async":
                async def fail() -> None:
                    raise OSError("bucket gone")
                return fail()
            if self.how == "never returns":
                async def hang() -> None:
                    await asyncio.sleep(3600)
                return hang()
        return super().append(session_id, records, lease)


@pytest.mark.parametrize(
    "how,message",
    [
        ("raises", "`append` failed: OSError: bucket gone"),
        ("raises async", "`append` failed: OSError: bucket gone"),
        ("never returns", "`append` did not settle within 300 ms (the store's `timeout_ms`)"),
    ],
)
def test_a_failing_append_ends_the_run_before_the_tool_runs(how: str, message: str) -> None:
    cwd = workspace()
    store = FailingAppend(how)
    agent = Agent(
        "scripted", cwd=cwd, session_store=store, permission_mode="auto",
        script=[{"tool_calls": [{"id": "call_x", "name": "bash", "args": {"command": "echo ran > ran.txt"}}]}, {"text": "never"}],
    )
    started = time.monotonic()
    r = agent.run("task")
    assert time.monotonic() - started < 10, "no hang"
    assert not r.success
    assert r.error is not None and r.error.code == "session_store", r.error
    assert message in r.error.message, r.error.message
    assert not (cwd / "ran.txt").exists(), "no step after an unsaved message"
    assert store.count == 3, "nothing appended after the failure"
    assert store.data.leases == {}
    stored = Agent.load_session(r.session_id, session_store=DictStore(store.data))
    assert [m["role"] for m in stored.messages] == ["user"]


def test_wrong_answers_and_raising_methods_name_the_method() -> None:
    store = DictStore()
    Agent("scripted", cwd=workspace(), session_store=store, script=[{"text": "Hi."}]).run("x")

    class WrongLoad(DictStore):
        def load(self, session_id: str) -> Any:
            return 42

    with pytest.raises(Exception, match=r"`load` answered a number 42"):
        Agent.load_session(next(iter(store.data.sessions)), session_store=WrongLoad(store.data))

    class NotJson(DictStore):
        def load(self, session_id: str) -> Any:
            return [object()]

    with pytest.raises(Exception, match=r"`load` failed"):
        Agent.load_session(next(iter(store.data.sessions)), session_store=NotJson(store.data))

    class RaisingList(DictStore):
        def list(self) -> List[str]:
            raise KeyError("no index")

    with pytest.raises(Exception, match=r"`list` failed: KeyError"):
        Agent.list_sessions(session_store=RaisingList(store.data))

    class BadLease(DictStore):
        def acquire(self, session_id: str) -> Any:
            return {"lease": 1}

    # A new session is taken when its first record is written: the run ends with the error.
    r = Agent("scripted", cwd=workspace(), session_store=BadLease(), script=[{"text": "no"}]).run("x")
    assert not r.success and r.error is not None and r.error.code == "session_store", r.error
    assert '`acquire` answered an object {"lease":1}' in r.error.message, r.error.message


def test_a_store_missing_a_method_or_with_a_bad_timeout_is_refused_by_name() -> None:
    class NoList:
        def acquire(self, s: str) -> None: ...
        def append(self, s: str, r: Any, l: str) -> None: ...
        def release(self, s: str, l: str) -> None: ...
        def load(self, s: str) -> None: ...

    with pytest.raises(TypeError, match="`list` is not a method"):
        Agent("scripted", session_store=NoList())
    with pytest.raises(TypeError, match="`list` is not a method"):
        Agent.list_sessions(session_store=NoList())
    bad = DictStore()
    bad.timeout_ms = "fast"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="timeout_ms"):
        Agent("scripted", session_store=bad)
    bad.timeout_ms = 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="timeout_ms"):
        Agent("scripted", session_store=bad)


def test_an_async_store_works_from_run_and_from_arun() -> None:
    cwd = workspace()
    store = AsyncDictStore()
    agent = Agent("scripted", cwd=cwd, session_store=store, permission_mode="auto", script=tool_script("a"))
    first = agent.run("sync caller")
    assert first.success, first.error

    async def main() -> Any:
        again = Agent("scripted", cwd=cwd, session_store=store, permission_mode="auto", script=tool_script("b"))
        return await again.arun("async caller", session_id=first.session_id)

    second = asyncio.run(main())
    assert second.success, second.error
    assert Agent.load_session(first.session_id, session_store=store).runs == 2
    assert [s.id for s in Agent.list_sessions(session_store=store)] == [first.session_id]
    assert store.data.leases == {}
    # Every async method ran on the stores' one loop, not the caller's.
    assert len(store.loops) == 1


class JsonFileStore:
    """Sessions in one JSON file of JSONL texts by id: the store
    python/tests/fixtures/json_file_store.mjs keeps from Node."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.leases: Dict[str, str] = {}

    def _read(self) -> Dict[str, str]:
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    def acquire(self, session_id: str) -> Optional[str]:
        if session_id in self.leases:
            return None
        self.leases[session_id] = "py"
        return "py"

    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> None:
        data = self._read()
        data[session_id] = data.get(session_id, "") + "".join(json.dumps(r) + "\n" for r in records)
        self.file.write_text(json.dumps(data))

    def release(self, session_id: str, lease: str) -> None:
        self.leases.pop(session_id, None)

    def load(self, session_id: str) -> Optional[List[str]]:
        text = self._read().get(session_id)
        return None if text is None else [line for line in text.split("\n") if line]

    def list(self) -> List[str]:
        return list(self._read())


def test_a_session_written_from_node_through_a_json_file_store_is_read_and_resumed_in_python() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "index.js").exists():
        pytest.skip("node or the Node addon is missing")
    cwd = workspace()
    file = cwd / "sessions.json"
    out = subprocess.run(
        [node, str(Path(__file__).parent / "fixtures" / "json_file_store.mjs"), str(file), str(cwd)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    sid = json.loads(out.stdout)["sessionId"]
    store = JsonFileStore(file)
    data = Agent.load_session(sid, session_store=store)
    texts = [c.get("text") for m in data.messages for c in m["content"] if c.get("type") == "text"]
    assert texts[:2] == ["from node", "Node answered."], texts
    assert [s.id for s in Agent.list_sessions(session_store=store)] == [sid]
    r = Agent("scripted", cwd=cwd, session_store=store, script=[{"text": "Python answered."}]).run("from python", session_id=sid)
    assert r.success, r.error
    assert Agent.load_session(sid, session_store=store).runs == 2


class FailingLoad:
    """A store whose `load` raises: a resumed run cannot load its session."""

    def acquire(self, session_id: str) -> Optional[str]:
        return "lease"

    def append(self, session_id: str, records: List[Dict[str, Any]], lease: str) -> None:
        pass

    def release(self, session_id: str, lease: str) -> None:
        pass

    def load(self, session_id: str) -> Optional[List[Dict[str, Any]]]:
        raise OSError("disk on fire")

    def list(self) -> List[str]:
        return []


def test_a_resumed_run_whose_store_fails_at_load_raises_with_code_session_store() -> None:
    for store in ("postgres://u:hunter22@127.0.0.1:1/db", "redis://127.0.0.1:1", FailingLoad()):
        agent = Agent("scripted", cwd=workspace(), session_store=store, script=[{"text": "x"}])
        with pytest.raises(RuntimeError) as raised:
            agent.run("x", session_id="resumed-1")
        assert getattr(raised.value, "code", None) == "session_store", (store, raised.value)
        assert str(raised.value).startswith("the session cannot be loaded: session store"), raised.value
        assert "hunter22" not in str(raised.value)
        with pytest.raises(RuntimeError) as streamed:
            for _ in agent.stream("x", session_id="resumed-1"):
                pass
        assert getattr(streamed.value, "code", None) == "session_store", (store, streamed.value)
    # Other reasons a run does not start stay misuse, without that code.
    with pytest.raises(ValueError, match="unknown session") as unknown:
        Agent("scripted", cwd=workspace(), session_store=FailingLoad(), script=[]).run("x", session_id="not valid")
    assert getattr(unknown.value, "code", None) is None
