"""Issue 18, project instructions and skills from Python: AGENTS.md in the system prompt,
a nested one after the first call that works there, skills listed and loaded with the
`skill` tool, a malformed SKILL.md a WarningEvent; the options' names checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harnext import Agent, ToolResultEvent, WarningEvent

from conftest import Mock


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def test_instructions_and_skills_reach_the_model_and_a_bad_skill_is_a_warning(mock: Mock, workspace: Path, tmp_path: Path) -> None:
    write(workspace, "AGENTS.md", "Always run pytest -q.\n")
    write(workspace, "pkg/AGENTS.md", "pkg code is typed.\n")
    write(workspace, "pkg/mod.py", "x = 1\n")
    skills = tmp_path / "team-skills"
    write(skills, "deploy/SKILL.md", "---\nname: deploy\ndescription: Deploy to staging.\n---\nRun ./deploy.sh staging\n")
    write(skills, "bad/SKILL.md", "no front matter\n")
    mock.push(
        {"turn": {"toolCalls": [{"id": "r", "name": "read_file", "args": {"path": "pkg/mod.py"}}, {"id": "s", "name": "skill", "args": {"name": "deploy"}}]}},
        {"turn": {"text": "done"}},
    )
    agent = Agent("anthropic/claude-test", base_url=mock.url, api_key="sk-test", cwd=workspace, persist_session=False, skills=[skills])
    events = list(agent.stream("go"))
    system = json.dumps(mock.requests()[0]["body"]["system"])
    assert "Always run pytest -q." in system and "- deploy: Deploy to staging." in system
    outputs = {e.id: e.output for e in events if isinstance(e, ToolResultEvent)}
    assert "pkg code is typed." in outputs["r"]
    assert "Run ./deploy.sh staging" in outputs["s"]
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and warnings[0].type == "warning"
    assert "does not start with YAML front matter" in warnings[0].message
    assert warnings[0].path is not None and warnings[0].path.endswith("bad/SKILL.md")

    mock.push({"turn": {"text": "done"}})
    Agent("anthropic/claude-test", base_url=mock.url, api_key="sk-test", cwd=workspace, persist_session=False, project_instructions=False).run("go")
    assert "Always run pytest" not in json.dumps(mock.requests()[-1]["body"]["system"])


def test_the_options_are_checked_with_their_names(workspace: Path) -> None:
    with pytest.raises(TypeError, match="did you mean `project_instructions`"):
        Agent("scripted", cwd=workspace, script=[], project_instruction=False)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="invalid option `skills`: nope is not an existing directory"):
        Agent("scripted", cwd=workspace, script=[{"text": "x"}], skills=["nope"])
    with pytest.raises(TypeError, match="project_instructions"):
        Agent("scripted", cwd=workspace, script=[{"text": "x"}], project_instructions="yes")  # type: ignore[arg-type]
