"""Issue 18, web_fetch from Python: a page served on 127.0.0.1 fetched as Markdown, refused
without network; the web_fetch option's fields checked."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from harnext import Agent


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>Python docs</h1><p>See <em>this</em>.</p></body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def turns(url: str) -> List[Dict[str, Any]]:
    return [{"toolCalls": [{"name": "web_fetch", "args": {"url": url}}]}, {"text": "ok"}]


def test_a_local_page_as_markdown_and_refused_without_network(site: str, workspace: Path) -> None:
    on = Agent("scripted", cwd=workspace, persist_session=False, script=turns(f"{site}/p"), network=True, web_fetch={"allowed_domains": ["127.0.0.1"], "timeout_ms": 5000})
    step = on.run("fetch").steps[0]
    assert step.status == "ok", step.output
    assert step.output.endswith("# Python docs\n\nSee _this_.") or step.output.endswith("# Python docs\n\nSee *this*."), step.output
    off = Agent("scripted", cwd=workspace, persist_session=False, script=turns(f"{site}/p"))
    step = off.run("fetch").steps[0]
    assert step.status == "error" and "web_fetch is off" in step.output and "`network`" in step.output


def test_the_web_fetch_option_is_checked(workspace: Path) -> None:
    with pytest.raises(ValueError, match='unknown field "allowedDomains": did you mean `allowed_domains`'):
        Agent("scripted", cwd=workspace, script=[], web_fetch={"allowedDomains": ["a.com"]})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(ValueError, match="timeout_ms: expected an integer >= 1, got 0"):
        Agent("scripted", cwd=workspace, script=[], web_fetch={"timeout_ms": 0})
