"""The benchmarks run and write their reports (smoke tests: nothing here is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.baseline import seed
from bench.baseline.app import create_app
from bench.images import multipart
from bench.report import percentile
from tests.conftest import IMAGES_TEST, ROOT


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


def test_preprocess_quick_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "preprocess.json"
    done = run_bench("preprocess", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"MNIST PNG 28x28", "JPEG photo 400x400",
                                      "phone JPEG 4000x3000"}
    assert all(r["images_per_s_per_core"] > 0 for r in report["results"].values())
    assert "decode µs" in done.stdout


def test_captures_quick_makes_a_set_and_reports_every_kind(
    tmp_path: Path, small_model_path: Path
) -> None:
    out = tmp_path / "captures.json"
    done = run_bench("captures", "--quick", "--make", "--set", str(tmp_path / "set"),
                     "--max-width", "160", "--model", str(small_model_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    by_kind = json.loads(out.read_text())["by_kind"]
    assert {"notebook", "form", "pencil", "shadow", "whiteboard", "lowres", "clean",
            "overall"} == set(by_kind)
    assert by_kind["overall"]["images"] == 7 * 20 and 0 <= by_kind["overall"]["accuracy"] <= 1
    assert "read right" in done.stdout


def test_model_quick_reports_identical_labels(tmp_path: Path, small_model_path: Path) -> None:
    out = tmp_path / "model.json"
    done = run_bench("model", "--quick", "--model", str(small_model_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["identical_labels"] is True and report["n_images"] == 1000


def test_steadiness_reports_every_pass(tmp_path: Path, small_model_path: Path) -> None:
    out = tmp_path / "steadiness.json"
    done = subprocess.run([sys.executable, "-m", "bench.steadiness", "--seconds", "0.5",
                           "--model", str(small_model_path), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["us_per_image"] and report["min"] <= report["median"] <= report["max"]


def test_unknown_benchmark_is_refused() -> None:
    done = run_bench("nosuch")
    assert done.returncode == 2 and "unknown benchmark" in done.stderr


def test_baseline_app_reads_the_samples(data_dir: Path, tmp_path: Path) -> None:
    model = seed.train(data_dir, 1_000, tmp_path / "seed.joblib")
    client = create_app(model).test_client()
    files = sorted(IMAGES_TEST.glob("*.png"))
    body, content_type = multipart([(p.name, p.read_bytes()) for p in files])
    answer = client.post("/predict", data=body, content_type=content_type).get_json()
    predicted = [p["prediction"] for p in answer["predictions"]]
    expected = [int(p.name[len("digit")]) for p in files]
    assert sum(a == b for a, b in zip(predicted, expected, strict=True)) >= 8


def test_percentile_is_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_hotpaths_quick_compares_each_path_with_what_it_replaced(tmp_path: Path) -> None:
    out = tmp_path / "hotpaths.json"
    done = run_bench("hotpaths", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert len(report["results"]) == 4
    assert all(r["ours"] > 0 and r["replaced"] > 0 for r in report["results"].values())
    [digits] = [r for name, r in report["results"].items() if name.startswith("digits kept")]
    assert digits["bytes_per_digit"] < 784 / 2
    assert "x faster" in done.stdout


def test_features_quick_reports_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    done = run_bench("features", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["n_images"] == 1000 and report["n_features"] == 3240
    assert all(report[f"{s}_images_per_cpu_s"] > 0 for s in ("deskew", "hog", "pca_matmul"))
    assert "HOG (default: 18 soft, spatial)" in done.stdout
    assert report["hog_own_cell_images_per_cpu_s"] > 0


def test_numbers_quick_reports_each_kind(tmp_path: Path, small_model_path: Path) -> None:
    from bench import numbers

    out = tmp_path / "numbers.json"
    code = numbers.main(["--quick", "--make", "--set", str(tmp_path / "set"), "--model",
                         str(small_model_path), "--out", str(out)])
    by_kind = json.loads(out.read_text())["by_kind"]
    assert code == 0 and {"clean", "tight", "overall"} <= set(by_kind)
    assert by_kind["overall"]["numbers"] == 50 and by_kind["overall"]["cpu_ms_per_image"] > 0
    assert all(0 <= k["mnist_accuracy"] <= 1 for k in by_kind.values())
    assert all(0 <= k["hand_accuracy"] <= 1 for k in by_kind.values())  # made with --seed 0


def test_a_number_is_right_on_mnist_only_when_every_digit_it_was_made_from_is(
    data_dir: Path, small_model
) -> None:
    """The "mnist" column: the model's own reading of the MNIST digits a set names."""
    from bench import on_mnist
    from core.data import load_split

    images, labels = load_split(data_dir, "test")
    right = small_model.predict(images[:2000]).labels == labels[:2000]
    (good, other), wrong = np.flatnonzero(right)[:2], np.flatnonzero(~right)[0]
    rows = [{"mnist_indices": f"{good} {other}"}, {"mnist_indices": f"{good} {wrong}"},
            {"mnist_indices": f"{wrong}"}]
    assert list(on_mnist.read_right(rows, "mnist_indices", small_model, data_dir)) == [
        True, False, False]
    assert on_mnist.read_right([{"text": "12"}], "mnist_indices", small_model, data_dir) is None


def test_peers_quick_runs_both_systems_and_reports_every_round(
    tmp_path: Path, small_model_path: Path
) -> None:
    """`bench peers --quick`: our stack and a BentoML service of the same core and model, the
    same images read alike by every path, every figure and ratio of the round in the report."""
    out = tmp_path / "peers.json"
    done = run_bench("peers", "--quick", "--requests", "20", "--load-seconds", "2",
                     "--model", str(small_model_path), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    [only] = report["rounds"]
    ours, theirs = only["ours"], only["bentoml"]
    assert ours["accuracy"] == theirs["multipart_accuracy"] == theirs["base64_accuracy"] > 0.9
    assert ours["single"]["requests"] == theirs["single"]["requests"] == 20
    assert ours["load"]["requests"] > 0 and theirs["load"]["requests"] > 0
    assert set(only["ratios"]) == set(report["targets"]) == set(report["targets_met_best"])
    assert report["pss_mib"]["ours"] > 0 and report["pss_mib"]["bentoml"] > 0
    assert "BentoML" in done.stdout and "throughput_vs_best_bentoml" in done.stdout


def test_timeline_follows_single_images_through_every_step(
    tmp_path: Path, small_model_path: Path
) -> None:
    """`bench.timeline` finds each step's Redis command: it breaks when the job store or the
    Celery wiring changes the commands it looks for, and this says so."""
    out = tmp_path / "timeline.json"
    done = subprocess.run([sys.executable, "-m", "bench.timeline", "--requests", "15",
                           "--gap", "0.005", "--model", str(small_model_path), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["followed"] >= 10 and len(report["steps_ms"]) == 9
    assert all(step["p50"] >= 0 for step in report["steps_ms"].values())
    assert report["predict_files_one_image"]["hot_p50_ms"] > 0


def test_load_quick_loses_nothing_and_samples_memory_over_the_soak(
    tmp_path: Path, small_model_path: Path
) -> None:
    out = tmp_path / "load.json"
    done = run_bench("load", "--quick", "--duration", "2", "--soak-images", "4000",
                     "--model", str(small_model_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["load"]["lost_images"] == 0  # errors (time-outs) are figures, not faults
    assert report["soak"]["images"] >= 4000 and report["soak"]["lost_images"] == 0
    samples = report["rss_soak_samples"]
    assert [s["images"] for s in samples] == sorted(s["images"] for s in samples)
    assert len(samples) >= 2 and set(samples[-1]["rss_kib"]) >= {"api", "workers", "redis"}
    assert "Redis growth per image kept" in done.stdout


def test_hands_quick_reads_plain_and_other_hand_digits(
    tmp_path: Path, small_model_path: Path
) -> None:
    out = tmp_path / "hands.json"
    done = run_bench("hands", "--quick", "--model", str(small_model_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["n_images"] == 500
    assert 0.8 <= report["plain"]["accuracy"] <= 1 and 0.7 <= report["other_hand"]["accuracy"] <= 1
    by_pen = report["by_pen"]  # every pen drawn, and every digit under one of them
    assert set(by_pen) == {"-4", "-3", "-2", "-1", "0", "1", "2", "3", "4"}
    assert sum(score["n"] for score in by_pen.values()) == 500
    assert sum(score["errors"] for score in by_pen.values()) == report["other_hand"]["errors"]
    assert set(report["on_page_by_pen"]) == set(by_pen)  # and through the whole pipeline
    assert 0.7 <= report["on_page"]["accuracy"] <= 1
    assert "other hands" in done.stdout and "on a clean page" in done.stdout


def test_after_load_reads_jobs_on_a_fresh_and_a_loaded_stack(
    tmp_path: Path, small_model_path: Path
) -> None:
    """`bench after_load --quick`: the load ran on one stack, then every round read a job on
    each, all succeeding, and the report compares them."""
    out = tmp_path / "after_load.json"
    done = run_bench("after_load", "--quick", "--rounds", "1", "--images", "300",
                     "--load-seconds", "1", "--model", str(small_model_path), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["load"]["p50_ms"] > 0 and not report["load"]["errors"]
    assert [len(v) for v in report["images_per_s"].values()] == [1, 1]
    assert report["after_load_vs_fresh"] > 0
    assert "after the load / fresh" in done.stdout


def test_a_number_is_right_as_written_only_for_the_seed_it_was_made_with(
    data_dir: Path, small_model, tmp_path: Path
) -> None:
    """The "hand" column: each digit as the number's writer drew it, read alone; a clean
    number is written in MNIST's own hand, and reads as its MNIST digits do."""
    from bench import on_mnist
    from eval.numbers import make

    rows = make(tmp_path, "clean", 6, seed=2, data_dir=data_dir)
    right = on_mnist.written_right(rows, 2, small_model, data_dir)
    assert right is not None and right.dtype == bool
    assert list(right) == list(on_mnist.read_right(rows, "mnist_indices", small_model, data_dir))
    assert on_mnist.written_right(rows, 3, small_model, data_dir) is None
    assert on_mnist.written_right([{"filename": "x.png", "text": "1"}], 2, small_model,
                                  data_dir) is None


def test_the_loop_reviews_misread_numbers_first_then_the_least_sure_right_ones() -> None:
    """`bench corrections --read number` reviews what a person would: every misread number
    (a digit wrong, one too many or too few), then the right ones under the review threshold,
    least confident first; a file with no digit found has nothing to correct."""
    from bench.corrections import NUMBERS, Reading, to_review

    def reading(truth: str, said: str | None, confidence: float | None) -> Reading:
        result = {"index": 0, "prediction": None, "text": said, "confidence": confidence,
                  "error": None if said else "no digit found"}
        return Reading("job", result, truth, [])

    readings = [reading("123", "123", 0.99), reading("123", "128", 0.95),
                reading("450", "450", 0.8), reading("450", "450", 0.5),
                reading("67", None, None), reading("89", "8", 0.97)]
    chosen, misread, doubtful = to_review(readings, NUMBERS, 3, 0.9)
    assert [(x.result["text"], x.result["confidence"]) for x in chosen] == [
        ("128", 0.95), ("8", 0.97), ("450", 0.5)]
    assert len(misread) == 2 and len(doubtful) == 2


def test_the_loops_held_out_numbers_hold_no_digit_trained_on(tmp_path: Path) -> None:
    """A held-out number is scored only when none of the MNIST test digits it was made from
    was reviewed (and so trained on)."""
    from bench.corrections import NumberSet

    rows = [{"filename": f"n{i}.png", "text": "12", "kind": "crossed",
             "mnist_indices": indices} for i, indices in enumerate(("1 2", "3 4", "2 5"))]
    held = NumberSet(tmp_path, rows).without({2, 9})
    assert [r["filename"] for r in held.rows] == ["n1.png"] and held.kinds == ["crossed"]


def test_the_loop_counts_what_retraining_fixed_and_what_it_broke() -> None:
    """A gain of a few points is told apart from chance by the images behind it."""
    from bench.corrections import flips

    was = np.array([True, True, False, False])
    now = np.array([True, False, True, True])
    assert flips(was, now) == {"fixed": 2, "broken": 1}


def test_corrections_quick_runs_the_loop_on_numbers_and_writes_its_report(
    tmp_path: Path, data_dir: Path
) -> None:
    """`bench corrections --read number`, small: the probe picks a kind of number, a job of
    them is reviewed through a real stack with `{"text"}`, a model is retrained on what
    was kept and gated, and both models are scored on held-out numbers."""
    out = tmp_path / "corrections.json"
    done = run_bench("corrections", "--quick", "--read", "number", "--train", "3000",
                     "--job-images", "40", "--held-out-images", "40", "--corrections", "12",
                     "--data-dir", str(data_dir), "--work", str(tmp_path / "sets"),
                     "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["read"] == "number" and result["kind"] in result["probe"]
    review = result["review"]
    assert 0 < review["corrected"] + review["confirmed"] <= 12
    assert review["kept_per_digit"] <= review["corrected"] + review["confirmed"]
    assert result["gate"]["status"] in (200, 409)  # a 3,000-image model may read MNIST worse
    assert set(result["held_out_flips"]) == {"fixed", "broken"}
    assert result["old"]["held_out"]["images"] == result["new"]["held_out"]["images"] > 0
    # figures, not what each image read: those are only for the fixed and broken counts
    assert set(result["new"]["held_out"]) == {"images", "accuracy", "no_digit_found",
                                              "accuracy_of_found"}
