"""The number evaluation sets (eval/numbers.py): reproducible, labelled, of every kind."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import load_split
from eval.numbers import KINDS, MAX_DIGITS, MIN_DIGITS, MORE_KINDS, make, number, written


def test_same_seed_same_bytes_and_a_smaller_set_is_a_prefix(data_dir: Path, tmp_path: Path):
    make(tmp_path / "a", "tight", 3, seed=5, data_dir=data_dir)
    make(tmp_path / "b", "tight", 2, seed=5, data_dir=data_dir)
    for name in ("tight_00000.jpg", "tight_00001.jpg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_labels_list_every_kind_with_its_text(data_dir: Path, tmp_path: Path):
    kinds = (*KINDS, *MORE_KINDS)
    for kind in kinds:
        make(tmp_path, kind, 2, seed=1, data_dir=data_dir)
    with (tmp_path / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["filename", "text", "kind", "mnist_indices"]
    assert sorted({r["kind"] for r in rows}) == sorted(kinds) and len(rows) == 2 * len(kinds)
    for row in rows:
        assert row["text"].isdigit() and MIN_DIGITS <= len(row["text"]) <= MAX_DIGITS
        assert len(row["mnist_indices"].split()) == len(row["text"])
        assert (tmp_path / row["filename"]).stat().st_size > 0


def test_a_number_s_digits_as_written_are_the_ones_its_labels_name(data_dir: Path,
                                                                     tmp_path: Path):
    """`written`: each number's digits as its writer drew them, alone (the "hand" column of
    `bench numbers`), the same digits the image was made from."""
    images, _ = load_split(data_dir, "test")
    rows = make(tmp_path, "comb", 3, seed=4, data_dir=data_dir)
    for n, row in enumerate(rows):
        chosen, inks = written("comb", 4, n, images)
        assert " ".join(str(i) for i in chosen) == row["mnist_indices"]
        assert len(inks) == len(chosen)
        assert all(ink.shape == (112, 112) and ink.min() >= 0 and ink.max() <= 1 for ink in inks)


def test_a_blank_field_is_the_same_field_with_nothing_written(data_dir: Path, tmp_path: Path):
    """`--blank`: the same paper, printing and camera as the field's numbers, no ink, and
    no labels (every file should read "no digit found")."""
    make(tmp_path / "inked", "underscores", 2, seed=7, data_dir=data_dir)
    make(tmp_path / "blank", "underscores", 2, seed=7, data_dir=data_dir, blank=True)
    assert not (tmp_path / "blank" / "labels.csv").exists()
    for name in sorted(p.name for p in (tmp_path / "inked").glob("underscores_*")):
        inked = np.asarray(Image.open(tmp_path / "inked" / name).convert("L"), np.float32)
        blank = np.asarray(Image.open(tmp_path / "blank" / name).convert("L"), np.float32)
        assert inked.shape == blank.shape
        assert (inked < blank - 60).any()  # the digits' ink, only on the inked page
        assert np.median(np.abs(inked - blank)) < 3  # elsewhere the same page


def test_only_a_form_fields_kinds_can_be_blank(data_dir: Path):
    images, _ = load_split(data_dir, "test", limit=10)
    with pytest.raises(ValueError, match="form field"):
        number("notebook", 1, 0, images, blank=True)
