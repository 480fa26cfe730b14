"""`pip install` of the built wheel into a fresh virtual environment (no Rust toolchain on
the PATH, no network: the wheel has no required dependency), then a run and a stream."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = """
import harnext, sys
from harnext import Agent, CancelToken
agent = Agent("scripted", script=[{"text": "Installed and running."}], persist_session=False)
assert agent.run("hi").text == "Installed and running."
agent2 = Agent("scripted", script=[{"text": "x"}], persist_session=False)
assert [e.type for e in agent2.stream("again")][-1] == "run_end"
print(harnext.__file__, sys.version_info[:2])
"""


def interpreters() -> list:  # type: ignore[type-arg]
    """This interpreter, and CPython 3.9 (the oldest the abi3 wheel serves) when it is here."""
    found = [pytest.param(sys.executable, id="this-python")]
    candidates = [shutil.which("python3.9"), *sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.9*/bin/python3.9"))]
    for py39 in candidates:
        if py39 is not None and subprocess.run([py39, "-c", "import venv"], capture_output=True).returncode == 0:
            found.append(pytest.param(py39, id="python3.9"))
            break
    return found


@pytest.mark.parametrize("python", interpreters())
def test_the_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path, python: str) -> None:
    wheel = os.environ.get("HARNEXT_WHEEL")
    if not wheel:
        if os.environ.get("HARNEXT_REQUIRE_NODE") == "1":
            pytest.fail("HARNEXT_WHEEL is not set")
        pytest.skip("HARNEXT_WHEEL is not set (scripts/test.sh sets it)")
    env_dir = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    clean_env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
                 "HARNEXT_SESSION_DIR": str(tmp_path / "sessions")}
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
                   check=True, env=clean_env, cwd=tmp_path)
    out = subprocess.run([str(py), "-c", CHECK], capture_output=True, text=True, env=clean_env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(env_dir) in out.stdout
