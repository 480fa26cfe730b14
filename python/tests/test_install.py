"""`pip install` of the built wheel into a fresh virtual environment (no Rust toolchain on
the PATH, no network: the wheel has no required dependency), then a run and a stream."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

CHECK = """
import harnext, sys
from harnext import Agent, CancelToken
agent = Agent("scripted", script=[{"text": "Installed and running."}], persist_session=False)
assert agent.run("hi").text == "Installed and running."
agent2 = Agent("scripted", script=[{"text": "x"}], persist_session=False)
assert [e.type for e in agent2.stream("again")][-1] == "run_end"
print(harnext.__file__)
"""


def test_the_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    wheel = os.environ.get("HARNEXT_WHEEL")
    if not wheel:
        if os.environ.get("HARNEXT_REQUIRE_NODE") == "1":
            pytest.fail("HARNEXT_WHEEL is not set")
        pytest.skip("HARNEXT_WHEEL is not set (scripts/test.sh sets it)")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    clean_env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
                 "HARNEXT_SESSION_DIR": str(tmp_path / "sessions")}
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
                   check=True, env=clean_env, cwd=tmp_path)
    out = subprocess.run([str(py), "-c", CHECK], capture_output=True, text=True, env=clean_env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(env_dir) in out.stdout
