"""Timing a model's run: warm-up, then timed runs with the GC paused, and their statistics.

Shared by the measurement child process (``edgesub profile``) and the converter's side-by-side
recommendation, so both report latencies the same way.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Cap on timed runs so a microsecond model under a time floor stays bounded (160 KB of timings).
MAX_RUNS = 20_000


def time_runs(
    run: Callable[[], None], warmup: int, runs: int, min_time_s: float = 0.0
) -> np.ndarray:
    """Nanoseconds per timed run, after discarded warm-up runs, with the GC paused.

    Runs continue past ``runs`` until ``min_time_s`` of timing has accumulated (up to MAX_RUNS),
    and warm-up lasts at least a tenth of that: for microsecond-scale models 50 runs are a few
    milliseconds, and one scheduler hiccup on a busy machine would move the median by 20 %.
    """
    import numpy as np

    deadline = time.perf_counter() + min_time_s / 10
    done = 0
    while done < warmup or time.perf_counter() < deadline:
        run()
        done += 1
    durations = np.zeros(max(runs, MAX_RUNS) if min_time_s > 0 else runs, dtype=np.int64)
    budget_ns = int(min_time_s * 1e9)
    spent = count = 0
    gc.disable()
    try:
        while count < runs or (spent < budget_ns and count < durations.size):
            start = time.perf_counter_ns()
            run()
            durations[count] = elapsed = time.perf_counter_ns() - start
            spent += elapsed
            count += 1
    finally:
        gc.enable()
    return durations[:count]


def latency_stats(durations_ns: np.ndarray) -> dict[str, Any]:
    """Median, p90, spread and count of per-run durations, in milliseconds (6 decimals)."""
    import numpy as np

    ms = durations_ns.astype(np.float64) / 1e6
    return {
        "latency_ms": round(float(np.percentile(ms, 50)), 6),
        "latency_p90_ms": round(float(np.percentile(ms, 90)), 6),
        "latency_std_ms": round(float(ms.std(ddof=1)), 6) if ms.size > 1 else 0.0,
        "latency_min_ms": round(float(ms.min()), 6),
        "runs": int(ms.size),
    }
