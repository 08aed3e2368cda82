"""What the corrections store adds up to: counts for people (`mnistq corrections stats`) and
the extra training set it exports to (`mnistq corrections export`, read by `mnistq train
--extra`; the format is core/extra_set.py's)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from common.corrections import Correction
from core.extra_set import write_extra_set

UNKNOWN_MODEL = "unknown"
"""`by_model`'s key for corrections of results that named no model version."""


def iso_week(created_at: float) -> str:
    """The ISO week of an epoch time, as `2026-W49` (UTC)."""
    year, week, _ = datetime.fromtimestamp(created_at, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _counts(values: Sequence[Any]) -> dict[str, int]:
    return {str(key): n for key, n in sorted(Counter(values).items())}


def correction_stats(corrections: Sequence[Correction]) -> dict[str, Any]:
    """`total`, then counts `by_label` (the person's digit, all ten listed), `by_kind`
    (confirm/correct), `by_model` (the version that read it) and `by_week` (ISO week)."""
    by_label = {str(d): 0 for d in range(10)}
    by_label.update(_counts([c.label for c in corrections]))
    return {
        "total": len(corrections),
        "by_label": by_label,
        "by_kind": _counts([c.kind for c in corrections]),
        "by_model": _counts([c.model or UNKNOWN_MODEL for c in corrections]),
        "by_week": _counts([iso_week(c.created_at) for c in corrections]),
    }


def stats_text(stats: dict[str, Any]) -> str:
    """The counts as a few lines for a terminal."""
    def line(title: str, counts: dict[str, int]) -> str:
        return f"{title:<9}" + "  ".join(f"{key}: {n}" for key, n in counts.items())

    return "\n".join([
        f"{stats['total']} corrections",
        line("digit", stats["by_label"]),
        line("kind", stats["by_kind"]),
        line("week", stats["by_week"]),
        "model",
        *(f"  {model:<26}{n:>6}" for model, n in stats["by_model"].items()),
    ])


def export_corrections(corrections: Sequence[Correction], out: Path) -> Path:
    """Write the corrections' digits and labels as an extra training set in `out`."""
    images = (np.stack([c.image for c in corrections]) if corrections
              else np.empty((0, 28, 28), np.uint8))
    rows = [{"label": c.label, "prediction": c.prediction, "model": c.model, "kind": c.kind,
             "created_at": datetime.fromtimestamp(c.created_at, UTC).isoformat(
                 timespec="seconds")} for c in corrections]
    return write_extra_set(out, images, [c.label for c in corrections], rows)
