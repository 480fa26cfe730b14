"""Fixtures of the Python tests: the mock provider (the harnext-mock binary the Node tests
use: Anthropic Messages, OpenAI Responses and Chat Completions on 127.0.0.1), a temporary
session directory (sessions never go to the real home), a scratch workspace."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Set before any agent exists: agents without session_dir (and child processes) keep their
# sessions here.
os.environ["HARNEXT_SESSION_DIR"] = tempfile.mkdtemp(prefix="harnext-py-sessions-")
for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
    os.environ.pop(var, None)

FORMATS = [
    pytest.param("anthropic/claude-test", id="anthropic"),
    pytest.param("openai/gpt-test", id="openai-responses"),
    pytest.param("openai-chat/llama-test", id="openai-chat"),
]


def host_triple() -> str:
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("host: "))


class Mock:
    def __init__(self) -> None:
        binary = ROOT / "target" / host_triple() / "debug" / "harnext-mock"
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: cargo build -p harnext-mock --target <host>")
        # The binary exits when its stdin closes, so a crashed test never leaves it behind.
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.url: str = json.loads(self.proc.stdout.readline())["url"]

    def push(self, *responses: Dict[str, Any]) -> None:
        req = urllib.request.Request(f"{self.url}/_mock/responses", data=json.dumps(list(responses)).encode(), method="POST")
        with urllib.request.urlopen(req) as r:
            assert r.status == 200, r.read()

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/_mock/reset", data=b"", method="POST")
        with urllib.request.urlopen(req) as r:
            assert r.status == 200

    def requests(self) -> List[Dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_mock/requests") as r:
            data: List[Dict[str, Any]] = json.loads(r.read())
            return data

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def mock_server() -> Iterator[Mock]:
    m = Mock()
    yield m
    m.close()


@pytest.fixture
def mock(mock_server: Mock) -> Mock:
    """The mock provider, its queue and recorded requests emptied for this test."""
    mock_server.reset()
    return mock_server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sessions"
    d.mkdir()
    return d
