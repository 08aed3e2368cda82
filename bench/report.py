"""What every benchmark shares: its JSON report under bench/results/ and a plain-text table.

Each report records the machine's load average when it ran: on a shared 2-core machine a
figure means little without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def arguments(
    name: str, doc: str | None, quick_help: str, settings: Any, model: bool = True
) -> argparse.ArgumentParser:
    """A benchmark's parser with the options all of them share: --quick, --model,
    --data-dir (defaults from the settings) and --out (the JSON report's path)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m bench {name}", description=(doc or name).splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if model:
        parser.add_argument("--model", type=Path, default=default_model(settings))
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir)
    parser.add_argument("--out", type=Path, default=None, help="JSON report path")
    return parser


def default_model(settings: Any) -> Path:
    """The model the benchmarks measure without --model: MNISTQ_MODEL_PATH, else the active
    version of MNISTQ_MODEL_DIR, else `models/mnist_svc.joblib` (trained when missing)."""
    from core.versions import VersionError, active_model_file

    if settings.model_path is not None:
        return settings.model_path
    try:
        return active_model_file(settings.model_dir)
    except VersionError:
        return settings.model_dir / "mnist_svc.joblib"


def conditions() -> dict[str, Any]:
    """Where and when a figure was measured: cores, load averages, versions."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def default_path(name: str, quick: bool) -> Path:
    """bench/results/<name>.json, or <name>-quick.json: a quick run never hides a full one."""
    return RESULTS_DIR / f"{name}{'-quick' if quick else ''}.json"


def write(name: str, report: dict[str, Any], out: Path | None = None) -> Path:
    """Write `report` (plus the run's conditions) as `out`, by default bench/results/<name>.json
    (<name>-quick.json when `report["quick"]`); its path."""
    path = out or default_path(name, bool(report.get("quick")))
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"benchmark": name, "conditions": conditions(), **report}
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned first column and right-aligned numbers, thousands separated."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.3g}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    text = [[cell(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in text) for i in range(len(header))]
    lines = []
    for row in text:
        first = row[0].ljust(widths[0])
        lines.append("  ".join([first, *(v.rjust(w) for v, w in zip(row[1:], widths[1:],
                                                                   strict=True))]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method: an observed value."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def best_cpu(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """Least CPU time (s) of `repeats` runs of `run` in this process, and its last result.

    CPU time, not wall clock: on a shared machine the wall clock also counts other
    processes' time slices, and the minimum is the least disturbed run.
    """
    best, value = float("inf"), None
    for _ in range(repeats):
        started = time.process_time()
        value = run()
        best = min(best, time.process_time() - started)
    return best, value
