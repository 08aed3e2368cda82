"""`images_test/`: one exact MNIST test image per digit, labelled in its name and labels.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from cli.main import main
from core.data import load_split
from core.samples import export_samples

IMAGES_TEST = Path(__file__).resolve().parent.parent / "images_test"


def read_labels(folder: Path) -> dict[str, int]:
    with (folder / "labels.csv").open(newline="") as f:
        return {row["filename"]: int(row["label"]) for row in csv.DictReader(f)}


def test_export_writes_the_first_image_of_each_digit(data_dir, tmp_path):
    images, labels = load_split(data_dir, "test", limit=200)
    paths = export_samples(images, labels, tmp_path / "out")
    assert [p.name for p in paths[:3]] == ["digit0_test3.png", "digit1_test2.png",
                                           "digit2_test1.png"]
    assert paths[-1].name == "labels.csv" and len(paths) == 11
    written = read_labels(tmp_path / "out")
    assert sorted(written.values()) == list(range(10))
    for name, digit in written.items():
        index = int(name.removesuffix(".png").split("_test")[1])
        assert name.startswith(f"digit{digit}_") and labels[index] == digit
        assert index == int(np.flatnonzero(labels == digit)[0])
        with Image.open(tmp_path / "out" / name) as image:
            assert image.mode == "L"
            np.testing.assert_array_equal(np.asarray(image), images[index])


def test_committed_samples_are_what_the_command_writes(data_dir, tmp_path, capsys):
    assert main(["export-samples", "--out", str(tmp_path), "--data-dir", str(data_dir)]) == 0
    assert "labels.csv" in capsys.readouterr().out
    assert read_labels(tmp_path) == read_labels(IMAGES_TEST)
    images, _ = load_split(data_dir, "test", limit=100)
    for name in read_labels(IMAGES_TEST):
        with Image.open(IMAGES_TEST / name) as committed:
            index = int(name.removesuffix(".png").split("_test")[1])
            np.testing.assert_array_equal(np.asarray(committed), images[index])
