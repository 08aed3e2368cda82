"""The in-process ceiling: `predict_files` on the same files, one process per core.

No HTTP, no Redis, no Celery: each process holds the model (one BLAS thread) and runs
decode, normalise, deskew and predict over chunks of the files, as a worker does. What the
stack reaches end to end is judged against this.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def pool(model_path: Path, processes: int, limits: ImageLimits
         ) -> Iterator[Callable[[list[tuple[str, bytes]], int], tuple[float, list[int | None]]]]:
    """Processes holding the model, ready; yields `run(files, chunk_size)` -> (seconds,
    predictions), which can be called between other measurements (the pool idles meanwhile).
    """
    with ProcessPoolExecutor(processes, mp_context=get_context("fork"), initializer=_load,
                             initargs=(str(model_path), limits)) as executor:
        list(executor.map(_ready, range(4 * processes)))  # every process started and loaded

        def run(files: list[tuple[str, bytes]], chunk_size: int
                ) -> tuple[float, list[int | None]]:
            items = [(i, name, data) for i, (name, data) in enumerate(files)]
            chunks = [items[s:s + chunk_size] for s in range(0, len(items), chunk_size)]
            started = time.perf_counter()
            parts = list(executor.map(_chunk, chunks))
            return time.perf_counter() - started, [p for part in parts for p in part]

        yield run


def throughput(model_path: Path, files: list[tuple[str, bytes]], processes: int,
               chunk_size: int, limits: ImageLimits, repeats: int = 1
               ) -> tuple[float, list[int | None]]:
    """(best seconds, predictions) for all `files` over `processes` processes."""
    with pool(model_path, processes, limits) as run:
        run(files[: 4 * processes * chunk_size], chunk_size)  # warm caches and allocator
        runs = [run(files, chunk_size) for _ in range(repeats)]
    return min(s for s, _ in runs), runs[0][1]
