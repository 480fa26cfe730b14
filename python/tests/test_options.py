"""Bad options raise at construction (or before a run starts), naming the option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harnext import Agent, CancelToken


def make(**options: Any) -> Agent:
    merged: dict[str, Any] = {"script": [{"text": "ok"}], "persist_session": False, **options}
    return Agent("scripted", **merged)


def test_an_unknown_option_raises_naming_it() -> None:
    with pytest.raises(TypeError, match="max_step"):
        make(max_step=3)


@pytest.mark.parametrize(
    ("option", "value", "error", "words"),
    [
        ("max_steps", "3", TypeError, "`max_steps`: expected an int >= 1, got str"),
        ("max_steps", 0, ValueError, "`max_steps`: expected an int >= 1, got 0"),
        ("max_steps", True, TypeError, "`max_steps`"),
        ("temperature", "hot", TypeError, "`temperature`"),
        ("permission_mode", "sometimes", ValueError, "`permission_mode`"),
        ("cwd", 42, TypeError, "`cwd`"),
        ("headers", {"x": 1}, TypeError, "`headers"),
        ("thinking", {"budget_tokens": 10}, ValueError, "`thinking`: `budget_tokens`: expected an integer from 1024"),
        ("thinking", {"budget_token": 2048}, ValueError, "unknown field `budget_token`: did you mean `budget_tokens`?"),
        ("thinking", "on", TypeError, "`thinking`"),
        ("sandbox", "readonly", ValueError, "`sandbox`: expected \"workspace-write\", \"read-only\" or \"off\""),
        ("persist_session", "no", TypeError, "`persist_session`"),
        ("system_prompt", 5, TypeError, "`system_prompt`"),
        ("tools", ["no_such_tool"], ValueError, "no_such_tool"),
        ("tools", [42], ValueError, "`tools`"),
        ("on_permission_request", "allow", TypeError, "`on_permission_request`"),
        ("session_dir", "", ValueError, "`session_dir`"),
        ("script", [{"txt": "typo"}], ValueError, "`script`"),
        ("mcp_servers", {"fs": {"cmd": "x"}}, ValueError, "`mcp_servers`"),
    ],
)
def test_a_bad_value_raises_naming_the_option(option: str, value: Any, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        make(**{option: value})
    assert words in str(info.value)


def test_a_bad_model_and_a_missing_cwd_raise() -> None:
    with pytest.raises(ValueError, match="`model`"):
        Agent("gemini/pro")
    with pytest.raises(ValueError, match="`cwd`"):
        Agent("scripted", cwd="/no/such/dir/anywhere")


def test_python_spells_options_in_snake_case_in_engine_messages(tmp_path: Path) -> None:
    # An engine message names `api_key` where Node says `apiKey`.
    agent = Agent("openai/gpt-test", cwd=tmp_path, persist_session=False, max_retries=0)
    result = agent.run("hi")
    assert result.error is not None and result.error.code == "auth"
    assert "apiKey" not in result.error.message


def test_run_options_are_checked_before_the_run() -> None:
    agent = make()
    with pytest.raises(ValueError, match="`max_steps`"):
        agent.run("x", max_steps=0)
    with pytest.raises(TypeError, match="`cancel`"):
        agent.run("x", cancel="now")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="input"):
        agent.run(42)
    with pytest.raises(ValueError, match="role"):
        agent.run([{"role": "system", "content": "x"}])
    with pytest.raises(TypeError, match="session_id"):
        agent.run("x", session_id=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        agent.run("x", session_id="sess_doesnotexist00")


def test_manual_mode_run_without_a_handler_is_misuse() -> None:
    with pytest.raises(ValueError, match="on_permission_request"):
        make(permission_mode="manual").run("x")


def test_cancel_token_is_a_plain_flag() -> None:
    t = CancelToken()
    assert t.cancelled is False
    t.cancel()
    t.cancel()
    assert t.cancelled is True
