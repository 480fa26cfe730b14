"""One harnext run against the mock, in its own process (the Python face). Env: MOCK_URL,
MODE (steps | stream | cold), BENCH_CWD. Prints one JSON line."""

import json
import os
import resource
import time

from harnext import Agent

mode = os.environ["MODE"]
cwd = os.environ.get("BENCH_CWD", os.getcwd())


def make() -> Agent:
    # The bare loop runs its commands unconfined: compare the same work, with the sandbox
    # off, as bench/run.mjs does for Node (BENCH_SANDBOX=workspace-write measures the default).
    sandbox = os.environ.get("BENCH_SANDBOX", "off")
    return Agent(
        "anthropic/claude-bench",
        base_url=os.environ["MOCK_URL"],
        api_key="bench",
        cwd=cwd,
        max_steps=200,
        sandbox=sandbox,
    )


if mode == "cold":
    print(json.dumps({"ok": make().run("hi").success}))
elif mode == "steps":
    r = make().run("go")
    print(json.dumps({"ok": r.success, "steps": len(r.steps), "maxRssKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
elif mode == "stream":
    n = 0
    t0 = time.perf_counter()
    for e in make().stream("go"):
        if e.type == "text":
            n += 1
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"chunks": n, "ms": ms, "perSec": n / ms * 1000}))
else:
    raise SystemExit(f"unknown MODE {mode}")
