"""A user trains a model, evaluates it and reads digits from files with `mnistq`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from core.data import load_split
from tests.support import encode


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "models" / "digits.joblib"
    code = main(["train", "--limit", "800", "--out", str(path), "--data-dir", str(data_dir)])
    assert code == 0
    return path


def test_train_writes_the_model_and_its_metadata(trained: Path) -> None:
    metadata = json.loads(trained.with_suffix(".json").read_text())
    assert trained.is_file()
    assert metadata["training_size"] == 800
    assert 0.85 < metadata["test_accuracy"] <= 1.0
    assert metadata["n_support"] > 0 and metadata["training_seconds"] > 0


def test_evaluate_json_reports_the_accuracy_as_a_fraction(trained: Path, data_dir: Path, capsys):
    code = main(["evaluate", "--model", str(trained), "--json", "--data-dir", str(data_dir)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["accuracy"] == json.loads(trained.with_suffix(".json").read_text())[
        "test_accuracy"
    ]
    assert len(report["confusion"]) == 10 and sum(map(sum, report["confusion"])) == 10_000


def test_evaluate_text_and_a_missing_model(trained: Path, tmp_path: Path, capsys) -> None:
    assert main(["evaluate", "--model", str(trained)]) == 0
    assert "confusion" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(tmp_path / "none.joblib")]) != 0
    assert "none.joblib: model file not found" in capsys.readouterr().err


def test_predict_json_reads_files_and_directories(
    trained: Path, data_dir: Path, tmp_path: Path, capsys
) -> None:
    images, labels = load_split(data_dir, "test", limit=20)
    folder = tmp_path / "uploads"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i:02d}_digit.png").write_bytes(encode(images[i]))
    (folder / "07_blank.png").write_bytes(encode(np.zeros((28, 28), dtype=np.uint8)))
    (folder / "labels.csv").write_text("left out: a folder gives its images only")
    single = tmp_path / "single.png"
    single.write_bytes(encode(images[10]))
    notes = tmp_path / "notes.txt"
    notes.write_text("named on the command line, so read and refused")

    code = main(
        ["predict", str(single), str(folder), str(notes), "--model", str(trained), "--json"]
    )
    results = json.loads(capsys.readouterr().out)

    assert code == 0
    assert [Path(r["filename"]).name for r in results] == [
        "single.png", *[f"{i:02d}_digit.png" for i in range(6)], "07_blank.png", "notes.txt",
    ]
    digits = results[:7]
    assert all(r["error"] is None and 0 <= r["confidence"] <= 1 for r in digits)
    assert all(r["runner_up"] != r["prediction"] for r in digits)
    expected = [int(labels[10]), *map(int, labels[:6])]
    assert sum(r["prediction"] == y for r, y in zip(digits, expected, strict=True)) >= 6
    for bad in results[7:]:
        assert bad["prediction"] is None and bad["error"]


def test_predict_without_a_model_fails_clearly(tmp_path: Path, capsys) -> None:
    assert main(["predict", str(tmp_path), "--model", str(tmp_path / "none.joblib")]) == 2
    assert "model file not found" in capsys.readouterr().err
