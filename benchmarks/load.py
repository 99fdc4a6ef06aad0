"""Load test of the app's HTTP API: N concurrent clients (1, 4, 16, 64) ask the polisci questions.

Loopback only, bounded in count and time. Starts what it needs (a `chroma run` server in server mode, the app with
`atlas-qa serve --no-ingest`), drives the app's `/gradio_api/call/ask` endpoint, prints throughput, p50/p95 latency
and errors per N, and stops everything.

    .venv/bin/python benchmarks/load.py --mode embedded --index-dir embeddings-eval/pages-dcc1a0e9 [--json]
    .venv/bin/python benchmarks/load.py --mode server   --index-dir embeddings-eval/pages-dcc1a0e9
    .venv/bin/python benchmarks/load.py --mode server   --index-dir embeddings-eval/pages-dcc1a0e9 \
        --replicas 2 --postgres --levels 64       # a department: two replicas, one Chroma server, one PostgreSQL

With `--postgres` (a throwaway cluster of Debian's PostgreSQL, as the tests start it) the apps keep accounts and the
question log there and the clients are a signed-in student calling `POST /api/v1/ask` with a token, spread evenly
over the `--replicas` (each with its own index folder: they share no disk; server mode only).

The index folder must hold an embedded index of the corpus (`atlas-qa eval ... --corpus` makes one); server mode
copies it onto a fresh Chroma server with `atlas-qa index export/import` (no re-embedding).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT.parent / "shared" / "corpora" / "openstax-polisci" / "questions.jsonl"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(index_dir: Path, course: str) -> dict[str, str]:
    """The environment of an app process under test: offline, no telemetry, the given index and course."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ATLAS_QA_INDEX_DIR": str(index_dir),
        "ATLAS_QA_COURSE": course,
    }


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


def ask(base: str, question: str, timeout: float = 120.0, token: str = "") -> dict:
    """One call of the app's `ask` API: POST the question, then read the result from the event stream (with a
    token: the REST API's `POST /api/v1/ask`)."""
    if token:
        body = json.dumps({"question": question}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"{base}/api/v1/ask", data=body, headers=headers)
        return json.loads(urllib.request.urlopen(request, timeout=timeout).read())
    body = json.dumps({"data": [question, "", "", ""]}).encode()
    req = urllib.request.Request(f"{base}/gradio_api/call/ask", data=body, headers={"Content-Type": "application/json"})
    event_id = json.loads(urllib.request.urlopen(req, timeout=timeout).read())["event_id"]
    with urllib.request.urlopen(f"{base}/gradio_api/call/ask/{event_id}", timeout=timeout) as stream:
        event = ""
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"error event: {line}")
                return json.loads(line[5:])[0]
    raise RuntimeError("stream ended without a result")


def run_level(
    bases: list[str], questions: list[str], clients: int, per_client: int, max_s: float, token: str = ""
) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_s

    def client(i: int) -> None:
        for j in range(per_client):
            if time.monotonic() > deadline:
                return
            q = questions[(i * per_client + j) % len(questions)]
            t = time.perf_counter()
            try:
                out = ask(bases[i % len(bases)], q, token=token)
                ok = "answer" in out
            except Exception as exc:  # noqa: BLE001 (every failure counts as an error)
                ok, out = False, {"error": repr(exc)}
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors.append(str(out.get("error")))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(lat) + len(errors),
        "errors": len(errors),
        "throughput_rps": round(len(lat) / wall, 2),
        "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "first_error": errors[0] if errors else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["embedded", "server"], default="embedded")
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--course", default="default")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--requests", type=int, default=64, help="requests per level at least (spread over clients)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="time bound per level")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--replicas", type=int, default=1, help="app processes the clients are spread over")
    parser.add_argument("--postgres", action="store_true", help="accounts and the question log in PostgreSQL")
    args = parser.parse_args()
    if args.replicas > 1 and args.mode != "server":
        parser.error("--replicas above 1 needs --mode server (replicas share the Chroma server, not a folder)")

    questions = [json.loads(x)["question"] for x in args.questions.read_text().splitlines() if x.strip()]
    env = app_env(args.index_dir, args.course)
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="atlas-load-"))
    cluster, token = None, ""
    try:
        if args.postgres:
            sys.path.insert(0, str(ROOT))
            from atlas_qa.users import UserStore
            from tests.postgres import Cluster, server_bin

            found = server_bin()
            if found is None:
                raise SystemExit("PostgreSQL's server is not installed (apt-get install postgresql).")
            cluster = Cluster(found)
            env["ATLAS_QA_DATABASE_URL"] = url = cluster.new_database()
            store = UserStore(url, rounds=4)
            store.add("load-student", "student", [args.course], "load-password-1")
            token = store.new_token("load-student")
        if args.mode == "server":
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "chroma"),
                        "run",
                        "--path",
                        str(tmp / "chroma"),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for(f"http://127.0.0.1:{port}/api/v2/heartbeat", procs[-1])
            archive = tmp / "index.tar.gz"
            subprocess.run([str(BIN / "atlas-qa"), "index", "export", str(archive)], env=env, check=True)
            env["ATLAS_QA_CHROMA_URL"] = f"http://127.0.0.1:{port}"
            subprocess.run([str(BIN / "atlas-qa"), "index", "import", str(archive)], env=env, check=True)
        bases = []
        for n in range(args.replicas):
            app_port = free_port()
            own = dict(env)
            if args.replicas > 1:  # its own index folder (the exported model copied in): no shared disk
                own["ATLAS_QA_INDEX_DIR"] = str(tmp / f"replica-{n}")
                if (args.index_dir / "models").is_dir():
                    import shutil

                    shutil.copytree(args.index_dir / "models", tmp / f"replica-{n}" / "models")
            procs.append(
                subprocess.Popen(
                    [str(BIN / "atlas-qa"), "serve", "--no-ingest", "--port", str(app_port)],
                    env=own,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            bases.append(f"http://127.0.0.1:{app_port}")
            wait_for(bases[-1] + "/login", procs[-1])
            ask(bases[-1], questions[0], token=token)  # warm-up: model and BM25 load
        results = []
        for clients in [int(x) for x in args.levels.split(",")]:
            per_client = max(1, -(-args.requests // clients))
            results.append(run_level(bases, questions, clients, per_client, args.max_seconds, token))
            if not args.json:
                r = results[-1]
                print(
                    f"{args.mode:8s} N={clients:3d}  {r['requests']:4d} req  {r['throughput_rps']:6.2f} req/s  "
                    f"p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  errors {r['errors']}",
                    flush=True,
                )
        one = results[0]["throughput_rps"] or 1e-9
        summary = {
            "mode": args.mode,
            "replicas": args.replicas,
            "database": "postgresql" if args.postgres else "sqlite",
            "levels": results,
            "speedup_16_vs_1": round(next((r["throughput_rps"] for r in results if r["clients"] == 16), 0) / one, 2),
        }
        print(
            json.dumps(summary, indent=2)
            if args.json
            else f"throughput at 16 clients / at 1: {summary['speedup_16_vs_1']}x"
        )
        return 0 if all(r["errors"] == 0 for r in results) else 1
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    sys.exit(main())
