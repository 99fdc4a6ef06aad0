"""Soak test of the app's memory: N clients ask the polisci questions over the HTTP API for M minutes while the app's
resident memory (RSS) is sampled; prints RSS over time and its growth after warm-up.

Loopback only, bounded in time and in requests, stops by itself (and stops the app it started).

    .venv/bin/python benchmarks/soak.py --index-dir embeddings-eval/pages-dcc1a0e9 [--clients 4] [--minutes 30]
    .venv/bin/python benchmarks/soak.py --url http://127.0.0.1:7860 --pid PID ...   # an app already running

The index folder must hold an embedded index of the corpus. Warm-up (model, BM25, Gradio's first calls, the
allocator's arenas) is the first `--warmup-minutes`; growth is measured from the end of warm-up to the end.
Prints numbers; passes or fails nothing (the exit code is 1 only when requests failed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from load import BIN, QUESTIONS, app_env, ask, free_port, wait_for


def rss_mb(pid: int) -> float:
    """The resident memory of a process, in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def soak(
    base: str,
    pid: int,
    questions: list[str],
    clients: int,
    seconds: float,
    warmup: float,
    every: float,
    max_requests: int,
    quiet: bool,
) -> dict:
    done = [0]
    errors: list[str] = []
    lock = threading.Lock()
    start = time.monotonic()
    stop = threading.Event()

    def client(i: int) -> None:
        j = 0
        while not stop.is_set():
            with lock:
                if done[0] + len(errors) >= max_requests:
                    return
            q = questions[(i * 7919 + j) % len(questions)]
            j += 1
            try:
                out = ask(base, q)
                ok = "answer" in out
            except Exception as exc:  # noqa: BLE001 (every failure counts)
                ok, out = False, {"error": repr(exc)}
            with lock:
                if ok:
                    done[0] += 1
                else:
                    errors.append(str(out.get("error")))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    samples: list[dict] = []
    while True:
        elapsed = time.monotonic() - start
        with lock:
            n, bad = done[0], len(errors)
        samples.append({"s": round(elapsed), "requests": n, "errors": bad, "rss_mb": round(rss_mb(pid), 1)})
        if not quiet:
            s = samples[-1]
            print(f"{s['s']:6d} s  {s['requests']:7d} req  {s['errors']:4d} err  RSS {s['rss_mb']:8.1f} MB", flush=True)
        if elapsed >= seconds or not any(t.is_alive() for t in threads):
            break
        time.sleep(min(every, max(0.0, seconds - elapsed)))
    stop.set()
    for t in threads:
        t.join(timeout=180)
    after = [s for s in samples if s["s"] >= warmup] or samples[-1:]
    base_s, last = after[0], samples[-1]
    served = last["requests"] - base_s["requests"]
    growth = last["rss_mb"] - base_s["rss_mb"]
    return {
        "clients": clients,
        "seconds": last["s"],
        "requests": last["requests"],
        "errors": last["errors"],
        "first_error": errors[0] if errors else None,
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_after_warmup_mb": base_s["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "growth_after_warmup_mb": round(growth, 1),
        "kb_per_request_after_warmup": round(1024 * growth / served, 2) if served else None,
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, help="an embedded index of the corpus (the app is started on it)")
    parser.add_argument("--course", default="default")
    parser.add_argument("--url", help="soak an app already running at this loopback URL instead")
    parser.add_argument("--pid", type=int, help="with --url: the app's process id (for its RSS)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to soak (the time bound)")
    parser.add_argument("--warmup-minutes", type=float, default=3.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between RSS samples")
    parser.add_argument("--max-requests", type=int, default=200_000, help="the count bound")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if bool(args.url) != bool(args.pid) or bool(args.url) == bool(args.index_dir):
        parser.error("give --index-dir, or --url with --pid")
    if args.url and not args.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        parser.error("--url must be a loopback address")

    questions = [json.loads(x)["question"] for x in args.questions.read_text().splitlines() if x.strip()]
    proc = None
    try:
        if args.url:
            base, pid = args.url.rstrip("/"), args.pid
        else:
            env = app_env(args.index_dir, args.course)
            port = free_port()
            proc = subprocess.Popen(
                [str(BIN / "atlas-qa"), "serve", "--no-ingest", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base, pid = f"http://127.0.0.1:{port}", proc.pid
            wait_for(base + "/", proc)
        result = soak(
            base,
            pid,
            questions,
            args.clients,
            60 * args.minutes,
            60 * args.warmup_minutes,
            args.every,
            args.max_requests,
            args.json,
        )
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            r = result
            print(f"{r['clients']} clients, {r['seconds']} s, {r['requests']} requests, {r['errors']} errors")
            print(
                f"RSS start {r['rss_start_mb']} MB, after warm-up {r['rss_after_warmup_mb']} MB, end "
                f"{r['rss_end_mb']} MB, max {r['rss_max_mb']} MB"
            )
            print(
                f"growth after warm-up: {r['growth_after_warmup_mb']} MB "
                f"({r['kb_per_request_after_warmup']} KB/request)"
            )
        return 0 if result["errors"] == 0 else 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
