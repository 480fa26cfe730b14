"""The baseline: a minimal hand-written Python loop over httpx + SSE doing what harnext's
run does against the same mock (Anthropic wire format): stream a model response, run the
tool calls (read a file, or `bash -c`), send the results, repeat."""

import json
import os
import resource
import subprocess
import time

import httpx

mode = os.environ["MODE"]
url = os.environ["MOCK_URL"] + "/v1/messages"
cwd = os.environ.get("BENCH_CWD", os.getcwd())
client = httpx.Client(timeout=60)
HEADERS = {"content-type": "application/json", "x-api-key": "bench", "anthropic-version": "2023-06-01"}


def call(messages, on_text=None):
    body = {"model": "claude-bench", "max_tokens": 1024, "stream": True, "messages": messages}
    content = {}
    with client.stream("POST", url, headers=HEADERS, content=json.dumps(body)) as res:
        for line in res.iter_lines():
            if not line.startswith("data: "):
                continue
            ev = json.loads(line[6:])
            t = ev["type"]
            if t == "content_block_start":
                content[ev["index"]] = {**ev["content_block"], "json": ""}
            elif t == "content_block_delta":
                b = content[ev["index"]]
                d = ev["delta"]
                if d["type"] == "text_delta":
                    b["text"] += d["text"]
                    if on_text:
                        on_text(d["text"])
                elif d["type"] == "input_json_delta":
                    b["json"] += d["partial_json"]
    blocks = []
    for i in sorted(content):
        b = content[i]
        raw = b.pop("json")
        if b["type"] == "tool_use":
            b["input"] = json.loads(raw) if raw else {}
        blocks.append(b)
    return blocks


def loop(task):
    messages = [{"role": "user", "content": task}]
    steps = 0
    while True:
        content = call(messages)
        messages.append({"role": "assistant", "content": content})
        uses = [b for b in content if b["type"] == "tool_use"]
        if not uses:
            return steps
        results = []
        for u in uses:
            if u["name"] == "bash":
                p = subprocess.run(["bash", "-c", u["input"]["command"]], cwd=cwd, capture_output=True, text=True)
                output = p.stdout + p.stderr
            else:
                with open(os.path.join(cwd, u["input"]["path"])) as f:
                    output = f.read()
            results.append({"type": "tool_result", "tool_use_id": u["id"], "content": output})
            steps += 1
        messages.append({"role": "user", "content": results})


if mode == "cold":
    call([{"role": "user", "content": "hi"}])
    print(json.dumps({"ok": True}))
elif mode == "steps":
    steps = loop("go")
    print(json.dumps({"ok": True, "steps": steps, "maxRssKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
elif mode == "stream":
    n = 0

    def count(_):
        global n
        n += 1

    t0 = time.perf_counter()
    call([{"role": "user", "content": "go"}], count)
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"chunks": n, "ms": ms, "perSec": n / ms * 1000}))
else:
    raise SystemExit(f"unknown MODE {mode}")
