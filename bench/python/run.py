"""The Python rows of the benchmark: harnext's Python face against a bare Python httpx + SSE
loop doing the same steps, both against the same mock provider (release build, 127.0.0.1,
Anthropic wire format), in the same run. Each figure is the median of BENCH_RUNS fresh
processes (default 5), with min and max. Run by bench/python/run.sh."""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
PY = os.environ.get("BENCH_PYTHON", sys.executable)


def host():
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


profile = "debug" if os.environ.get("BENCH_PROFILE") == "debug" else "release"
mock = subprocess.Popen([str(ROOT / "target" / host() / profile / "harnext-mock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
URL = json.loads(mock.stdout.readline())["url"]


def control(path, body=None):
    req = urllib.request.Request(f"{URL}/_mock/{path}", data=None if body is None else json.dumps(body).encode(), method="GET" if body is None and path == "requests" else "POST")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


cwd = tempfile.mkdtemp(prefix="harnext-bench-py-")
Path(cwd, "file.txt").write_text("line of text for the read_file step\n" * 60)
ENV = {**os.environ, "MOCK_URL": URL, "BENCH_CWD": cwd}


def run(script, mode):
    started_us = (time.time_ns()) // 1000
    out = subprocess.run([PY, str(HERE / script)], env={**ENV, "MODE": mode}, capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        raise SystemExit(f"{script} failed: {out.stderr}")
    return started_us, json.loads(out.stdout.strip().splitlines()[-1])


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def fmt(s, unit, digits=2):
    f = lambda x: f"{x:.0f}" if abs(x) >= 100 else f"{x:.{digits}f}"
    return f"{f(s['median'])} {unit} [{f(s['min'])}–{f(s['max'])}]"


rows = []


def row(metric, ours, base, unit, target, better, digits=2):
    ratio = ours["median"] / base["median"]
    ok = ratio <= target if better == "lower" else ratio >= target
    rows.append((metric, fmt(ours, unit, digits), fmt(base, unit, digits), f"{ratio:.2f}", f"{'≤' if better == 'lower' else '≥'} {target}", "yes" if ok else "NO"))


def steps_script(n, kind):
    call = {"name": "bash", "args": {"command": "echo hi"}} if kind == "bash" else {"name": "read_file", "args": {"path": "file.txt"}}
    return [{"turn": {"toolCalls": [call]}, "times": n}, {"turn": {"text": "done"}}]


def measure_steps(script, n, kind):
    gaps, rss = [], []
    for _ in range(RUNS):
        control("reset", {})
        control("responses", steps_script(n, kind))
        _, out = run(script, "steps")
        assert out["steps"] == n, out
        reqs = control("requests")
        g = [reqs[i]["receivedAtUs"] - reqs[i - 1]["finishedAtUs"] for i in range(1, len(reqs))]
        gaps.append(statistics.median(g) / 1000)
        rss.append(out["maxRssKb"] / 1024)
    return stats(gaps), stats(rss)


for n in (10, 50):
    for kind in ("read_file", "bash"):
        ours, ours_rss = measure_steps("harnext_run.py", n, kind)
        base, base_rss = measure_steps("baseline_run.py", n, kind)
        row(f"Python per-step cost, {n} × {'bash `echo hi` (sandbox off)' if kind == 'bash' else 'read_file'}", ours, base, "ms", 1.0, "lower")
        if n == 50 and kind == "read_file":
            extra = ours_rss["median"] - base_rss["median"]
            rows.append(("Python peak RSS, 50-step run", fmt(ours_rss, "MB", 1), fmt(base_rss, "MB", 1), f"{ours_rss['median'] / base_rss['median']:.2f}", "≤ bare Python + 20 MB", "yes" if extra <= 20 else "NO"))


def measure_cold(script):
    xs = []
    for _ in range(RUNS):
        control("reset", {})
        control("responses", [{"turn": {"text": "hello"}}])
        started, _ = run(script, "cold")
        req = control("requests")[0]
        xs.append((req["receivedAtUs"] - started) / 1000)
    return stats(xs)


row("Python cold start: process start → first request", measure_cold("harnext_run.py"), measure_cold("baseline_run.py"), "ms", 1.0, "lower")

WORDS = " ".join(f"w{i}" for i in range(20000))


def measure_stream(script):
    xs = []
    for _ in range(RUNS):
        control("reset", {})
        control("responses", [{"turn": {"text": WORDS}}])
        _, out = run(script, "stream")
        assert out["chunks"] == 20000, out
        xs.append(out["perSec"] / 1000)
    return stats(xs)


row("Python stream delivery, 20,000 text chunks", measure_stream("harnext_run.py"), measure_stream("baseline_run.py"), "k chunks/s", 1.0, "higher")
mock.stdin.close()
mock.wait()

ver = subprocess.run([PY, "-c", "import sys, httpx; print(sys.version.split()[0], httpx.__version__)"], capture_output=True, text=True).stdout.split()
print(f"\nharnext Python benchmark · {RUNS} runs per figure · {os.cpu_count()} CPUs · {platform.machine()} · CPython {ver[0]} · httpx {ver[1]} · {profile} build\n")
print("| metric | harnext (Python): median [min–max] | bare Python httpx + SSE: median [min–max] | ratio | target | met |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
