"""Custom tools made with @tool: schemas from type hints and docstrings (pydantic) or
given explicitly, arguments validated before the function runs, sync and async functions,
exceptions as `error` results, read_only in the permission modes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

import pytest
from pydantic import BaseModel

from harnext import Agent, Tool, builtin_tools, tool

from conftest import Mock


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Current weather for a city.

    Args:
        city: The city's name.
        unit: Celsius or Fahrenheit.
    """
    return f"Sunny in {city}, 21°{unit.upper()}"


@tool(read_only=True)
async def lookup(ids: List[int]) -> Dict[str, Any]:
    """Looks records up."""
    await asyncio.sleep(0.01)
    return {"found": [i * 2 for i in ids]}


@tool(name="explode", description="Always fails")
def explode(reason: str) -> str:
    raise RuntimeError(f"boom: {reason}")


class Point(BaseModel):
    x: int
    y: int


@tool
def plot(point: Point, label: Optional[str] = None) -> str:
    """Plots a point."""
    assert isinstance(point, Point)
    return f"{label or 'p'}=({point.x},{point.y})"


def scripted(calls: List[Dict[str, Any]], tools: List[Any], cwd: Path, **extra: Any) -> Agent:
    script: List[Dict[str, Any]] = [{"tool_calls": calls}, {"text": "done"}]
    return Agent("scripted", script=script, tools=tools, cwd=cwd, persist_session=False, **extra)


def test_the_schema_comes_from_the_hints_and_the_docstring() -> None:
    assert isinstance(get_weather, Tool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Current weather for a city."
    s = get_weather.input_schema
    assert s["type"] == "object" and s["required"] == ["city"]
    assert s["properties"]["city"]["type"] == "string"
    assert s["properties"]["city"]["description"] == "The city's name."
    assert s["properties"]["unit"]["enum"] == ["c", "f"]
    assert lookup.read_only is True and get_weather.read_only is False
    # The decorated function stays callable.
    assert get_weather("Oslo") == "Sunny in Oslo, 21°C"


def test_sync_async_and_pydantic_arguments_run(workspace: Path) -> None:
    result = scripted(
        [
            {"name": "get_weather", "args": {"city": "Paris"}},
            {"name": "lookup", "args": {"ids": [1, 2]}},
            {"name": "plot", "args": {"point": {"x": 1, "y": 2}, "label": "a"}},
        ],
        [get_weather, lookup, plot],
        workspace,
    ).run("go")
    assert [(s.tool, s.status) for s in result.steps] == [("get_weather", "ok"), ("lookup", "ok"), ("plot", "ok")]
    assert result.steps[0].output == "Sunny in Paris, 21°C"
    assert result.steps[1].output == '{"found": [2, 4]}'
    assert result.steps[2].output == "a=(1,2)"


def test_invalid_arguments_and_exceptions_are_error_results(workspace: Path) -> None:
    ran = []

    @tool
    def count(n: int) -> str:
        """Counts."""
        ran.append(n)
        return str(n)

    result = scripted(
        [
            {"name": "count", "args": {"n": "many"}},
            {"name": "get_weather", "args": {"city": "Rome", "unit": "k"}},
            {"name": "explode", "args": {"reason": "test"}},
        ],
        [count, get_weather, explode],
        workspace,
    ).run("go")
    assert [s.status for s in result.steps] == ["error", "error", "error"]
    assert ran == []  # validated before the function ran
    assert "invalid arguments" in result.steps[0].output
    assert "RuntimeError: boom: test" in result.steps[2].output
    assert result.success  # the model saw the errors; the run went on


def test_an_explicit_schema_is_used_and_enforced(workspace: Path) -> None:
    @tool(input_schema={"type": "object", "properties": {"q": {"type": "string", "minLength": 2}}, "required": ["q"]})
    def search(q: str) -> str:
        return f"results for {q}"

    result = scripted([{"name": "search", "args": {"q": "x"}}, {"name": "search", "args": {"q": "xy"}}], [search], workspace).run("go")
    assert [s.status for s in result.steps] == ["error", "ok"]
    assert result.steps[1].output == "results for xy"


def test_read_only_tools_run_in_read_only_mode_and_others_are_denied(workspace: Path) -> None:
    result = scripted(
        [{"name": "lookup", "args": {"ids": [1]}}, {"name": "get_weather", "args": {"city": "Oslo"}}],
        [lookup, get_weather],
        workspace,
        permission_mode="read-only",
    ).run("go")
    assert [s.status for s in result.steps] == ["ok", "denied"]


def test_builtin_tools_can_be_kept_beside_custom_ones(workspace: Path) -> None:
    assert "bash" in builtin_tools and "read_file" in builtin_tools
    agent = Agent("scripted", script=[{"text": "x"}], tools=[*builtin_tools, get_weather], cwd=workspace)
    assert agent.cwd == str(workspace.resolve())


def test_bad_tools_raise_at_definition() -> None:
    with pytest.raises(ValueError, match="name"):
        tool(name="bad name!")(lambda: "x")
    with pytest.raises(TypeError, match="input_schema"):
        tool(name="s", input_schema={"type": "string"})(lambda: "x")
    with pytest.raises(TypeError, match="kwargs"):

        @tool
        def f(**kw: Any) -> str:
            return ""


def test_an_async_tool_runs_on_the_loop_of_arun(workspace: Path) -> None:
    loops: List[Any] = []

    @tool
    async def where() -> str:
        """Where it runs."""
        loops.append(asyncio.get_running_loop())
        return "here"

    async def main() -> Any:
        result = await scripted([{"name": "where", "args": {}}], [where], workspace).arun("go")
        return result, asyncio.get_running_loop()

    result, loop = asyncio.run(main())
    assert result.steps[0].status == "ok" and loops == [loop]


def test_on_the_mock_provider_the_model_sees_the_tool_and_its_output(mock: Mock, workspace: Path) -> None:
    before = len(mock.requests())
    mock.push({"turn": {"toolCalls": [{"name": "get_weather", "args": {"city": "Lima"}}]}}, {"turn": {"text": "ok"}})
    agent = Agent("anthropic/claude-test", base_url=mock.url, api_key="k", cwd=workspace, tools=[get_weather])
    result = agent.run("weather?")
    assert result.steps[0].output == "Sunny in Lima, 21°C"
    reqs = mock.requests()[before:]
    assert "get_weather" in str(reqs[0]) and "Sunny in Lima" in str(reqs[1])
