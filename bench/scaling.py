"""Throughput against workers and chunk size, and the plot of it (docs/throughput.png).

For each chunk size, fresh `mnistq up` stacks with 1 and with 2 workers take turns running
the same job of MNIST test PNGs (best of a few); the in-process ceiling (2 processes, no
HTTP, no queue) and the baseline (the seed's Flask app) are drawn as reference lines.
Run: `python -m bench scaling [--quick]`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench import report
from bench.baseline import seed
from bench.clients import baseline_batches
from bench.e2e import BASELINE_BATCH, BASELINE_REPEATS, ensure_model, measure_stacks
from bench.images import png_files, test_set
from bench.inprocess import throughput
from bench.procs import baseline_server
from common.settings import PROJECT_ROOT, Settings
from core.imaging import ImageLimits

NAME = "scaling"
PLOT = PROJECT_ROOT / "docs" / "throughput.png"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    for workers in result["workers"]:
        runs = [r for r in result["runs"] if r["workers"] == workers]
        ax.plot([r["chunk_size"] for r in runs], [r["images_per_s"] for r in runs], "o-",
                label=f"mnistq up --workers {workers}")
    ax.axhline(result["inprocess_images_per_s"], color="grey", linestyle="--",
               label=f"in process, {result['cores']} processes (no HTTP, no queue)")
    ax.axhline(result["baseline_images_per_s"], color="tab:red", linestyle=":",
               label="baseline: seed Flask app, 2 sync workers")
    ax.set_xscale("log", base=2)
    ax.set_xticks(result["chunk_sizes"], [str(c) for c in result["chunk_sizes"]])
    ax.set_xlabel("chunk size (images per Celery task)")
    ax.set_ylabel("images/s, upload to last result")
    ax.set_ylim(bottom=0)
    load = result["conditions_load_average"]
    ax.set_title(f"{result['n_images']:,} MNIST PNGs over HTTP, {result['cores']} cores "
                 f"(load avg {load:.1f})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments("scaling", __doc__, "1,000 images, 2 chunk sizes", settings)
    parser.add_argument("--chunk-sizes", default=None, help="comma-separated")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--plot", type=Path, default=None,
                        help=f"PNG to write (default {PLOT.relative_to(PROJECT_ROOT)}; with "
                             "--quick bench/results/throughput-quick.png)")
    parser.add_argument("--replot", type=Path, default=None, metavar="JSON",
                        help="only redraw the plot from an earlier report")
    args = parser.parse_args(argv)
    if args.plot is None:
        args.plot = report.RESULTS_DIR / "throughput-quick.png" if args.quick else PLOT
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot)
        return 0
    n, chunks, repeats = ((1_000, "64,256", 1) if args.quick
                          else (10_000, "32,64,128,256,512,1024", 4))
    chunk_sizes = [int(c) for c in (args.chunk_sizes or chunks).split(",")]
    repeats = args.repeats or repeats
    model_path = ensure_model(args.model)
    seed_model = seed.ensure_model(args.data_dir, seed.QUICK_LIMIT if args.quick else None)
    images, labels = test_set(args.data_dir, n)
    files = png_files(images)
    cores = os.cpu_count() or 2
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)

    with baseline_server(seed_model, workers=2) as baseline:
        baseline_batches(baseline.url, files[:200], 50, 2)
        base_s = min(baseline_batches(baseline.url, files, BASELINE_BATCH, 2)[0]
                     for _ in range(min(repeats, BASELINE_REPEATS)))
    inproc_s, _ = throughput(model_path, files, cores, settings.chunk_size, limits, repeats)
    workers = (1, 2)
    runs = []
    for chunk in chunk_sizes:
        for run in measure_stacks(list(workers), model_path, files, labels, repeats, chunk):
            run.pop("memory")
            print(f"chunk {chunk:>5}, {run['workers']} worker(s): "
                  f"{run['images_per_s']:,.0f} images/s", flush=True)
            runs.append(run)
    result = {
        "quick": args.quick, "n_images": n, "cores": cores, "model": str(model_path),
        "chunk_sizes": chunk_sizes, "workers": list(workers), "runs": runs,
        "baseline_images_per_s": report.rate(n, base_s),
        "inprocess_images_per_s": report.rate(n, inproc_s),
        "conditions_load_average": os.getloadavg()[0],
    }
    rows = [(f"chunk {c}", *(next(r["images_per_s"] for r in runs
                                   if r["chunk_size"] == c and r["workers"] == w)
                              for w in workers)) for c in chunk_sizes]
    print(report.table(("images/s", *(f"{w} worker(s)" for w in workers)), rows))
    print(f"in process ({cores} processes): {result['inprocess_images_per_s']:,.0f} images/s; "
          f"baseline: {result['baseline_images_per_s']:,.0f} images/s")
    plot(result, args.plot)
    result["plot"] = str(args.plot)
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
