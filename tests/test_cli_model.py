"""A user trains a model, evaluates it and reads digits from files with `mnistq`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
    assert metadata["recipe"]["features"]["kind"] == "hog" and metadata["calibration"]["slope"]
    assert 0 <= metadata["test_ece"] <= 1 and 0 <= metadata["test_review_2pct_catch"] <= 1


def test_evaluate_json_reports_the_accuracy_as_a_fraction(trained: Path, data_dir: Path, capsys):
    code = main(["evaluate", "--model", str(trained), "--json", "--data-dir", str(data_dir)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["accuracy"] == json.loads(trained.with_suffix(".json").read_text())[
        "test_accuracy"
    ]
    assert len(report["confusion"]) == 10 and sum(map(sum, report["confusion"])) == 10_000
    saved_ece = json.loads(trained.with_suffix(".json").read_text())["test_ece"]
    assert report["ece"] == pytest.approx(saved_ece, abs=1e-6)
    assert 0 < report["review_2pct_catch"] <= 1 and report["failed"] == 0


def test_evaluate_text_and_a_missing_model(trained: Path, tmp_path: Path, capsys) -> None:
    assert main(["evaluate", "--model", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "confusion" in out and "MNISTQ_REVIEW_BELOW=" in out  # what to flag, from this set
    assert main(["evaluate", "--model", str(tmp_path / "none.joblib")]) != 0
    assert "none.joblib: model file not found" in capsys.readouterr().err


def test_predict_json_reads_files_and_directories(
    trained: Path, data_dir: Path, tmp_path: Path, capsys
) -> None:
    images, labels = load_split(data_dir, "test", limit=20)
    folder = tmp_path / "uploads"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i:02d}_digit.png").write_bytes(encode(images[i]))
    photo = Image.fromarray(255 - images[5]).resize((112, 112)).convert("RGB")
    (folder / "05_phone.HEIC").write_bytes(encode(photo, "HEIF", quality=90))  # as phones save
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
        "single.png", *[f"{i:02d}_digit.png" for i in range(5)], "05_phone.HEIC", "07_blank.png",
        "notes.txt",
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


@pytest.fixture()
def labelled_folder(data_dir: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """40 MNIST test digits as PNGs in two kinds, and a blank image that gets a per-file error."""
    images, labels = load_split(data_dir, "test", limit=40)
    folder = tmp_path / "scans"
    folder.mkdir()
    rows = ["filename,label,kind"]
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / f"{i:02d}.png").write_bytes(encode(image))
        rows.append(f"{i:02d}.png,{label},{'big' if i % 2 else 'small'}")
    (folder / "blank.png").write_bytes(encode(np.zeros((28, 28), dtype=np.uint8)))
    rows.append("blank.png,7,small")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder, labels


def test_evaluate_a_labelled_folder_as_json(
    small_model_path: Path, labelled_folder, capsys
) -> None:
    folder, _ = labelled_folder
    code = main(["evaluate", "--set", str(folder), "--model", str(small_model_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["n_images"] == 41 and report["failed"] == 1
    assert 0.85 <= report["accuracy"] <= 40 / 41  # the blank counts as wrong
    assert set(report["by_kind"]) == {"small", "big"}
    assert report["by_kind"]["small"]["n_images"] == 21
    assert report["by_kind"]["small"]["failed"] == 1 and report["by_kind"]["big"]["failed"] == 0
    right = round(report["accuracy"] * 41)
    assert right == sum(round(k["accuracy"] * k["n_images"]) for k in report["by_kind"].values())
    assert 0 <= report["ece"] <= 1 and report["review_2pct_catch"] > 0  # the blank is reviewed
    assert 0 < report["review_75pct_share"] <= 1 and 0 < report["review_75pct_below"] <= 1
    assert sum(map(sum, report["confusion"])) == 40


def test_evaluate_a_labelled_folder_as_text(small_model_path: Path, labelled_folder, capsys):
    folder, _ = labelled_folder
    assert main(["evaluate", "--set", str(folder), "--model", str(small_model_path)]) == 0
    out = capsys.readouterr().out
    assert "1 of them per-file errors" in out and "ECE" in out and "confusion" in out
    assert "small" in out and "big" in out


@pytest.mark.parametrize(
    ("labels_csv", "message"),
    [
        (None, "labels.csv: cannot read it"),
        ("name,digit\n00.png,7\n", "the header must be `filename,label[,kind]`"),
        ("filename,label\n00.png,seven\n", "line 2: label 'seven' is not a digit 0-9"),
        ("filename,label\n00.png,7\nmissing.png,1\n", "line 3: missing.png not found"),
        ("filename,label\n../00.png,7\n", "line 2: filename '../00.png' is not a file name"),
        ("filename,label\n", "no images listed"),
    ],
)
def test_a_bad_labels_file_is_refused_clearly(
    small_model_path: Path, labelled_folder, labels_csv: str | None, message: str, capsys
) -> None:
    folder, _ = labelled_folder
    if labels_csv is None:
        (folder / "labels.csv").unlink()
    else:
        (folder / "labels.csv").write_text(labels_csv)
    assert main(["evaluate", "--set", str(folder), "--model", str(small_model_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("mnistq: ") and err.count("\n") == 1
