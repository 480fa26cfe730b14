"""The design document's Python examples (../shared/spec/running-the-agent.md), extracted
and run as written against a scripted model, then checked by `mypy --strict` with the
package's stubs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harnext import Agent, CancelToken, RunResult

from conftest import ROOT

DOC = ROOT.parent / "shared" / "spec" / "running-the-agent.md"


def snippets() -> List[str]:
    if not DOC.exists():
        pytest.skip(f"{DOC} is not here")
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def find(marker: str) -> str:
    found = [s for s in snippets() if marker in s]
    assert len(found) == 1, f"one snippet with {marker!r}"
    return found[0]


def test_the_document_has_the_four_examples() -> None:
    assert len(snippets()) == 4


def run_snippet(code: str, agent: Agent, **extra: Any) -> Dict[str, Any]:
    ns: Dict[str, Any] = {"agent": agent, **extra}
    exec(compile(code, str(DOC), "exec"), ns)
    return ns


def test_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = Agent(
        "scripted",
        cwd=tmp_path,
        script=[
            {"tool_calls": [{"name": "write_file", "args": {"path": "src/routes/users.py", "content": "# paginated\n"}}]},
            {"text": "Added pagination."},
        ],
    )
    ns = run_snippet(find('agent.run("Add pagination'), agent)
    result = ns["result"]
    assert isinstance(result, RunResult) and result.success is True
    assert result.files_changed == ["src/routes/users.py"]
    assert result.text == "Added pagination." and result.session_id.startswith("sess_")


def test_structured_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = Agent("scripted", cwd=tmp_path, script=[{"text": '{"risk": "low", "summary": "Small change."}'}])
    ns = run_snippet(find("output_schema=Review"), agent)
    assert isinstance(ns["result"].output, ns["Review"])
    assert capsys.readouterr().out == "low\n"


def test_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = Agent(
        "scripted",
        cwd=tmp_path,
        script=[
            {"thinking": "TOML it is.", "text": "Reading the loader.", "tool_calls": [{"name": "glob", "args": {"pattern": "*.py"}}]},
            {"text": "Migrated."},
        ],
    )
    ns = run_snippet(find("agent.stream("), agent)
    out = capsys.readouterr().out
    assert "Reading the loader." in out and "⏺ glob {'pattern': '*.py'}" in out and "↳ ok" in out
    assert ns["result"].success and ns["result"].text == "Migrated."


def test_cancellation_from_another_thread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = Agent(
        "scripted",
        cwd=tmp_path,
        script=[
            {"tool_calls": [{"name": "read_file", "args": {"path": "a"}}]},
            {"tool_calls": [{"name": "bash", "args": {"command": "sleep 30"}}]},
        ],
    )
    ns: Dict[str, Any] = {"agent": agent}

    def canceller() -> None:
        # "call cancel.cancel() from another thread": as soon as the snippet made it.
        while "cancel" not in ns:
            time.sleep(0.005)
        time.sleep(0.3)
        ns["cancel"].cancel()

    t = threading.Thread(target=canceller)
    t.start()
    exec(compile(find("CancelToken()"), str(DOC), "exec"), ns)
    t.join()
    assert isinstance(ns["cancel"], CancelToken) and ns["result"].cancelled
    assert capsys.readouterr().out == "stopped at step 2\n"


def test_mypy_strict_accepts_the_examples(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed (scripts/test.sh installs it)")
    files = []
    for i, code in enumerate(snippets()):
        f = tmp_path / f"snippet_{i}.py"
        f.write_text('from harnext import Agent\n\nagent = Agent("scripted")\n' + code)
        files.append(str(f))
    out = subprocess.run([mypy, "--strict", "--no-incremental", *files], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
