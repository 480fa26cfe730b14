"""output_schema: a pydantic model (result.output is a validated instance), a JSON Schema
dict, any TypeAdapter type; invalid answers go back to the model, then output_invalid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal

import pytest
from pydantic import BaseModel, field_validator

from harnext import Agent

from conftest import FORMATS, Mock


class Review(BaseModel):
    risk: Literal["low", "medium", "high"]
    summary: str

    @field_validator("summary")
    @classmethod
    def not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("summary must not be blank")
        return v


def scripted(*texts: str) -> Agent:
    return Agent("scripted", script=[{"text": t} for t in texts], persist_session=False)


@pytest.mark.parametrize("model", FORMATS)
def test_a_pydantic_model_gives_a_validated_instance(model: str, mock: Mock, workspace: Path) -> None:
    answer = '{"risk": "low", "summary": "Small diff."}'
    if model.startswith("anthropic"):
        mock.push({"turn": {"toolCalls": [{"name": "final_answer", "args": {"risk": "low", "summary": "Small diff."}}]}})
    else:
        mock.push({"turn": {"text": answer}})
    agent = Agent(model, base_url=mock.url, api_key="k", cwd=workspace)
    result = agent.run("Review the diff on this branch", output_schema=Review)
    assert result.success, result.error
    assert isinstance(result.output, Review)
    assert result.output.risk == "low" and result.output.summary == "Small diff."
    # The model was given the model's JSON Schema.
    assert "summary" in str(mock.requests()[0]["body"])


def test_a_refinement_failure_goes_back_to_the_model() -> None:
    agent = scripted('{"risk": "low", "summary": "  "}', '{"risk": "high", "summary": "Risky."}')
    result = agent.run("review", output_schema=Review)
    assert result.success and isinstance(result.output, Review) and result.output.risk == "high"


def test_after_the_retries_the_run_fails_with_output_invalid() -> None:
    agent = scripted('{"risk": "none", "summary": "x"}', "not json", '{"risk": "bad"}')
    result = agent.run("review", output_schema=Review, max_output_retries=2)
    assert not result.success and result.output is None
    assert result.error is not None and result.error.code == "output_invalid"


def test_a_json_schema_dict_gives_plain_json() -> None:
    schema: Dict[str, Any] = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    result = scripted('{"n": "x"}', '{"n": 3}').run("count", output_schema=schema)
    assert result.success and result.output == {"n": 3}


def test_type_adapter_types_work() -> None:
    @dataclass
    class Pair:
        a: int
        b: str

    r1 = scripted("[1, 2, 3]").run("list", output_schema=List[int])
    assert r1.output == [1, 2, 3]
    r2 = scripted('{"a": 1, "b": "x"}').run("pair", output_schema=Pair)
    assert r2.output == Pair(1, "x")


def test_the_stream_run_end_carries_the_instance() -> None:
    events = list(scripted('{"risk": "medium", "summary": "ok"}').stream("review", output_schema=Review))
    end = events[-1]
    assert end.type == "run_end" and isinstance(end.result.output, Review)


def test_a_schema_that_is_not_one_raises_before_the_run() -> None:
    with pytest.raises(TypeError, match="output_schema"):
        scripted("x").run("x", output_schema=object())
