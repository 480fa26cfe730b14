"""Issue 18, images from Python: image parts (path, bytes, base64 str, URL) reach the mock
provider in each wire format; read_file of a PNG is an image in the tool result and the
session keeps it; hostile parts are refused, naming the part."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harnext import Agent

from conftest import Mock

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
B64 = base64.b64encode(PNG).decode()
DATA_URL = f"data:image/png;base64,{B64}"


def agent(model: str, mock: Mock, cwd: Path, **extra: Any) -> Agent:
    return Agent(model=model, base_url=mock.url, api_key="sk-test-images", cwd=cwd, persist_session=False, **extra)


def parts() -> List[Dict[str, Any]]:
    return [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "path": "shot.png"},
        {"type": "image", "data": PNG, "media_type": "image/png"},
        {"type": "image", "data": B64, "media_type": "image/png"},
        {"type": "image", "url": "https://example.com/a.png"},
    ]


def test_image_parts_reach_each_provider_in_its_wire_form(mock: Mock, workspace: Path) -> None:
    (workspace / "shot.png").write_bytes(PNG)
    png = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}}

    mock.push({"turn": {"text": "A pixel."}})
    r = agent("anthropic/claude-test", mock, workspace).run([{"role": "user", "content": parts()}])
    assert r.success, r.error
    body = mock.requests()[-1]["body"]
    assert body["messages"][0]["content"][:4] == [{"type": "text", "text": "What is in these?"}, png, png, png]
    assert body["messages"][0]["content"][4]["source"] == {"type": "url", "url": "https://example.com/a.png"}

    mock.push({"turn": {"text": "A pixel."}})
    r = agent("openai/gpt-test", mock, workspace).run([{"role": "user", "content": parts()}])
    assert r.success, r.error
    img = lambda u: {"type": "input_image", "image_url": u, "detail": "auto"}  # noqa: E731
    assert mock.requests()[-1]["body"]["input"][0]["content"] == [
        {"type": "input_text", "text": "What is in these?"},
        img(DATA_URL), img(DATA_URL), img(DATA_URL), img("https://example.com/a.png"),
    ]

    mock.push({"turn": {"text": "A pixel."}})
    r = agent("openai-chat/llama-test", mock, workspace).run([{"role": "user", "content": parts()}])
    assert r.success, r.error
    user = next(m for m in mock.requests()[-1]["body"]["messages"] if m["role"] == "user")
    part = lambda u: {"type": "image_url", "image_url": {"url": u}}  # noqa: E731
    assert user["content"] == [
        {"type": "text", "text": "What is in these?"},
        part(DATA_URL), part(DATA_URL), part(DATA_URL), part("https://example.com/a.png"),
    ]


def test_read_file_of_a_png_is_an_image_and_the_session_keeps_it(mock: Mock, workspace: Path, session_dir: Path) -> None:
    (workspace / "shot.png").write_bytes(PNG)
    mock.push(
        {"turn": {"toolCalls": [{"id": "call_png", "name": "read_file", "args": {"path": "shot.png"}}]}},
        {"turn": {"text": "One pixel."}},
    )
    a = Agent(model="openai/gpt-test", base_url=mock.url, api_key="sk-test-images", cwd=workspace, session_dir=session_dir)
    r = a.run("look at shot.png")
    assert r.success, r.error
    body = mock.requests()[-1]["body"]
    out = next(i for i in body["input"] if i.get("type") == "function_call_output")["output"]
    assert out[1] == {"type": "input_image", "image_url": DATA_URL, "detail": "auto"}
    data = Agent.load_session(r.session_id, session_dir=session_dir)
    images = [b for m in data.messages for b in m["content"] if b["type"] == "image"]
    assert images == [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}, "tool_use_id": "call_png"}]


@pytest.mark.parametrize(
    "part, message",
    [
        ({"type": "image", "path": "../outside.png"}, "outside the workspace"),
        ({"type": "image", "path": "fake.png"}, "not a PNG, JPEG, GIF or WebP"),
        ({"type": "image", "data": "@@ not base64", "media_type": "image/png"}, "invalid base64"),
        ({"type": "image", "data": PNG, "media_type": "image/tiff"}, 'unsupported media type "image/tiff"'),
        ({"type": "image", "data": PNG}, "needs its `media_type`"),
        ({"type": "image", "data": b"\x89PNG\r\n\x1a\n" + bytes(4_000_000), "media_type": "image/png"}, "over the 3932160-byte cap"),
        ({"type": "image", "url": "https://bob:hunter2@example.com/a.png"}, "credentials"),
        ({"type": "image", "url": "https://example.com/a.png", "path": "shot.png"}, "exactly one of"),
        ({"type": "image", "data": 42, "media_type": "image/png"}, "bytes or a base64 str"),
        ({"type": "video", "url": "https://example.com/a.mp4"}, 'expected "text" or "image"'),
        ({"type": "image", "uri": "https://example.com/a.png"}, 'unknown key "uri"'),
    ],
)
def test_hostile_image_parts_are_refused(mock: Mock, workspace: Path, part: Dict[str, Any], message: str) -> None:
    (workspace / "shot.png").write_bytes(PNG)
    (workspace.parent / "outside.png").write_bytes(PNG)
    (workspace / "fake.png").write_text("text named .png")
    with pytest.raises((ValueError, TypeError)) as e:
        agent("anthropic/claude-test", mock, workspace).run([{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert message in str(e.value)
    assert "input[0].content[1]" in str(e.value)
    assert "hunter2" not in str(e.value)
    assert mock.requests() == []
