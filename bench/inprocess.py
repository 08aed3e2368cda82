"""The in-process ceiling: `predict_files` on the same files, one process per core.

No HTTP, no Redis, no Celery: each process holds the model (one BLAS thread) and runs
decode, normalise, deskew and predict over chunks of the files, as a worker does. What the
stack reaches end to end is judged against this.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from threadpoolctl import threadpool_limits

from core.imaging import ImageLimits
from core.model import DigitModel
from core.pipeline import predict_files

_model: DigitModel | None = None
_limits: ImageLimits | None = None


def _load(model_path: str, limits: ImageLimits) -> None:
    global _model, _limits
    threadpool_limits(limits=1)
    _model, _limits = DigitModel.load(Path(model_path)), limits


def _chunk(items: list[tuple[int, str, bytes]]) -> list[int | None]:
    assert _model is not None and _limits is not None
    return [r.prediction for r in predict_files(_model, items, _limits)]


def _ready(_: int) -> bool:
    return _model is not None


def throughput(model_path: Path, files: list[tuple[str, bytes]], processes: int,
               chunk_size: int, limits: ImageLimits, repeats: int = 1
               ) -> tuple[float, list[int | None]]:
    """(best seconds, predictions) for all `files` over `processes` processes."""
    items = [(i, name, data) for i, (name, data) in enumerate(files)]
    chunks = [items[s:s + chunk_size] for s in range(0, len(items), chunk_size)]
    with ProcessPoolExecutor(processes, mp_context=get_context("fork"), initializer=_load,
                             initargs=(str(model_path), limits)) as pool:
        list(pool.map(_ready, range(4 * processes)))  # every process started and loaded
        list(pool.map(_chunk, chunks[: 2 * processes]))  # warm caches and allocator
        best, predictions = float("inf"), []
        for _ in range(repeats):
            started = time.perf_counter()
            parts = list(pool.map(_chunk, chunks))
            best = min(best, time.perf_counter() - started)
            predictions = [p for part in parts for p in part]
    return best, predictions
