"""Issue 18, the providers' server-side web search from Python: an agent with
``web_search=`` against the mock speaking the OpenAI Responses wire format (a hosted
search, then a reply whose text cites a page, as raw SSE): the tool in the request, the
typed WebSearchEvent and CitationEvent, the searches counted and priced, the items sent
back as received on the next request; the option checked (snake_case keys, typos,
providers without a search, per run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harnext import Agent, CitationEvent, RunEndEvent, UsageEvent, WebSearchEvent, WebSearchResult

from conftest import Mock

TEXT = "Python 3.14 was released in October."
SEARCH = {
    "id": "ws_1",
    "type": "web_search_call",
    "status": "completed",
    "action": {
        "type": "search",
        "query": "python 3.14 release",
        "sources": [{"type": "url", "url": "https://www.python.org/downloads/release/python-3140/"}],
    },
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [
        {
            "type": "output_text",
            "text": TEXT,
            "logprobs": [],
            "annotations": [
                {
                    "type": "url_citation",
                    "start_index": 0,
                    "end_index": 11,
                    "url": "https://www.python.org/downloads/release/python-3140/",
                    "title": "Python Release Python 3.14.0",
                }
            ],
        }
    ],
}


def sse(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"sse": "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)}


def completed(output: List[Dict[str, Any]], input_tokens: int) -> Dict[str, Any]:
    return {
        "type": "response.completed",
        "response": {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "output": output,
            "usage": {"input_tokens": input_tokens, "output_tokens": 20, "total_tokens": input_tokens + 20},
        },
    }


SEARCH_TURN = sse(
    [
        {"type": "response.output_item.added", "output_index": 0, "item": {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}},
        {"type": "response.web_search_call.in_progress", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.web_search_call.completed", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.output_item.done", "output_index": 0, "item": SEARCH},
        {"type": "response.output_item.added", "output_index": 1, "item": {**MESSAGE, "status": "in_progress", "content": []}},
        {"type": "response.output_text.delta", "output_index": 1, "item_id": "msg_1", "content_index": 0, "delta": TEXT},
        {
            "type": "response.output_text.annotation.added",
            "output_index": 1,
            "item_id": "msg_1",
            "content_index": 0,
            "annotation_index": 0,
            "annotation": MESSAGE["content"][0]["annotations"][0],  # type: ignore[index]
        },
        {"type": "response.output_item.done", "output_index": 1, "item": MESSAGE},
        completed([SEARCH, MESSAGE], 5000),
    ]
)


def text_turn(text: str) -> Dict[str, Any]:
    item = {"id": "msg_2", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}
    return sse([{"type": "response.output_item.done", "output_index": 0, "item": item}, completed([item], 10)])


def agent(mock: Mock, cwd: Path, **extra: Any) -> Agent:
    return Agent(model="openai/gpt-5", base_url=mock.url, api_key="sk-test-websearch", cwd=cwd, persist_session=False, **extra)


def test_a_hosted_search_and_a_cited_reply_are_typed_events_and_go_back_as_received(mock: Mock, workspace: Path) -> None:
    mock.push(SEARCH_TURN, text_turn("In October."))
    a = agent(mock, workspace, web_search={"allowed_domains": ["python.org"], "user_location": {"country": "US", "city": "Boston"}})
    events = list(a.stream("What's new in Python?"))
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    result = end.result
    assert result.success, result.error
    assert result.text == TEXT
    searches = [e for e in events if isinstance(e, WebSearchEvent)]
    assert [(e.id, e.status, e.query) for e in searches] == [
        ("ws_1", "searching", None),
        ("ws_1", "completed", "python 3.14 release"),
    ]
    assert searches[1].results == [WebSearchResult("https://www.python.org/downloads/release/python-3140/")]
    assert all(e.type == "web_search" for e in searches)
    citations = [e for e in events if isinstance(e, CitationEvent)]
    assert citations == [
        CitationEvent(
            "https://www.python.org/downloads/release/python-3140/", "Python Release Python 3.14.0", "Python 3.14"
        )
    ]
    assert citations[0].type == "citation"
    # One search, counted and priced ($10 per 1,000) on top of the tokens.
    assert result.usage.web_search_requests == 1
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert usage[-1].web_search_requests == 1
    tokens = (5000 * 1.25 + 20 * 10.0) / 1e6
    assert result.cost_usd is not None and abs(result.cost_usd - (tokens + 0.01)) < 1e-9

    first = mock.requests()[0]["body"]
    assert first["tools"][-1] == {
        "type": "web_search",
        "filters": {"allowed_domains": ["python.org"]},
        "user_location": {"type": "approximate", "city": "Boston", "country": "US"},
    }
    assert "web_search_call.action.sources" in first["include"]

    # The next run of the session sends the search and the cited message back as items.
    again = a.run("When exactly?", session_id=result.session_id)
    assert again.success, again.error
    items = mock.requests()[1]["body"]["input"]
    assert items[1] == SEARCH
    assert items[2] == MESSAGE
    assert items[3] == {"role": "user", "content": "When exactly?"}


def test_a_run_turns_the_search_on_or_off(mock: Mock, workspace: Path) -> None:
    mock.push(text_turn("a"), text_turn("b"))
    assert agent(mock, workspace, web_search=True).run("hi", web_search=False).success
    assert agent(mock, workspace).run("hi", web_search=True).success
    first, second = (r["body"] for r in mock.requests())
    assert not any(t.get("type") == "web_search" for t in first.get("tools", []))
    assert second["tools"][-1] == {"type": "web_search"}


def test_the_option_is_checked_with_python_spelling(mock: Mock, workspace: Path) -> None:
    with pytest.raises(ValueError, match='invalid option `web_search`: unknown field "maxUses": did you mean `max_uses`'):
        agent(mock, workspace, web_search={"maxUses": 2})
    with pytest.raises(ValueError, match='user_location: unknown field "zip": expected one of `city`'):
        agent(mock, workspace, web_search={"user_location": {"zip": "02134"}})
    with pytest.raises(ValueError, match=r"OpenAI's web search has no limit on the number of searches: drop max uses \(maxUses / max_uses\)"):
        agent(mock, workspace, web_search={"max_uses": 2})
    with pytest.raises(ValueError, match="the `scripted` provider has no server-side web search"):
        Agent("scripted", script=[], web_search=True)
    with pytest.raises(TypeError, match="did you mean `web_search`"):
        agent(mock, workspace, websearch=True)
    a = agent(mock, workspace)
    with pytest.raises(TypeError, match="did you mean `web_search`"):
        a.run("hi", web_serch=True)
    with pytest.raises(ValueError, match="invalid option `web_search`: blocked_domains"):
        a.run("hi", web_search={"blocked_domains": "x.com"})
    with pytest.raises(ValueError, match="OpenAI's web search cannot block domains"):
        a.run("hi", web_search={"blocked_domains": ["x.com"]})


def test_a_traced_run_marks_the_model_call_that_searched(mock: Mock, workspace: Path) -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    mock.push(SEARCH_TURN)
    result = agent(mock, workspace, web_search=True, tracing={"tracer_provider": provider}).run("news")
    assert result.success, result.error
    chats = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert [(s.attributes or {}).get("harnext.web_search.requests") for s in chats] == [1]
