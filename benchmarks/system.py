"""What the benchmark measures with: wall times, memory, the machine, and the settings and environment of the
child processes it times."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from atlas_qa.config import Settings
from atlas_qa.errors import AtlasError

ROOT = Path(__file__).resolve().parents[1]  # the checkout: `benchmarks` importable from here
WARMUP = 5  # calls not timed before each series (the first loads the chunks, builds BM25 and the page signals)


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; falls back to the peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine() -> dict[str, Any]:
    """What the numbers were measured on: core count, CPU model, Python and platform."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"nproc": os.cpu_count() or 0, "cpu": cpu, "python": platform.python_version(), "loadavg": load}


def timed_runs(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of `runs` runs of a command, after one untimed run (disk cache, exported models)."""
    times = []
    for n in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise AtlasError(f"benchmark command failed ({' '.join(cmd[:4])} ...): {done.stderr.strip()[-500:]}")
        if n:
            times.append(elapsed)
    return statistics.median(times)


# The settings that change what is measured; storage ones (course, a Chroma server...) stay at their defaults so the
# benchmark always writes a fresh embedded index in its temporary folder.
CARRIED = (
    "model",
    "embedder",
    "device",
    "batch_size",
    "chunk_tokens",
    "k",
    "fetch_k",
    "refuse_below",
    "backend",
    "cache_dir",
)


def bench_settings(settings: Settings, **changes: Any) -> Settings:
    carried = {f: getattr(settings, f) for f in CARRIED}
    return Settings(**{**carried, **changes})


def settings_env(settings: Settings) -> dict[str, str]:
    """`ATLAS_QA_*` variables that give a child process the same settings."""
    return {f"ATLAS_QA_{f.upper()}": str(getattr(settings, f)) for f in ("index_dir", *CARRIED)}


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured child process: no `ATLAS_QA_*` of the user's, offline, this checkout importable
    (for `benchmarks.scale`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_QA_")}
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}, **extra)
    env["PYTHONPATH"] = path
    return env
