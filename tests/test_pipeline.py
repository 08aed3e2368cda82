"""Uploaded files become one result each, in order; a bad file costs only itself."""

from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np
from PIL import Image

from core.data import load_split
from core.imaging import ImageLimits
from core.pipeline import predict_files
from core.results import BOX_COLUMNS, FIELDS, Result, to_csv
from tests.support import encode

LIMITS = ImageLimits(max_bytes=1 << 20, max_pixels=4_000_000)


def test_results_come_back_in_order_with_per_file_errors(small_model, data_dir) -> None:
    images, _ = load_split(data_dir, "test", limit=4)
    items = [
        (10, "a.png", encode(images[0])),
        (11, "notes.txt", b"hello"),
        (12, "b.png", encode(images[1])),
        (13, "blank.png", encode(np.zeros((28, 28), dtype=np.uint8))),
        (14, "c.png", encode(images[2])),
    ]
    results = predict_files(small_model, items, LIMITS)
    assert [(r.index, r.filename) for r in results] == [(i, name) for i, name, _ in items]
    good = [results[0], results[2], results[4]]
    expected = small_model.predict(images[:3])
    assert [r.prediction for r in good] == expected.labels.tolist()
    assert all(r.error is None and 0 <= r.confidence <= 1 and r.runner_up != r.prediction
               for r in good)
    for bad in (results[1], results[3]):
        assert bad.prediction is None and bad.confidence is None and bad.error
    # what the model saw is kept for a person's correction: an MNIST PNG comes back as itself
    assert all(np.array_equal(r.image, images[i]) for r, i in zip(good, range(3), strict=True))
    assert [len(r.normalised) for r in results] == [1, 0, 1, 0, 1]
    assert "image" not in results[0].to_dict()


def test_only_bad_files_and_no_files(small_model) -> None:
    results = predict_files(small_model, [(0, "x.bin", b"\0\1\2")], LIMITS)
    assert results[0].error and results[0].prediction is None
    assert predict_files(small_model, [], LIMITS) == []


def test_a_result_is_one_json_object_with_every_field() -> None:
    """The API's rows and the CSV header list the same fields, whatever the outcome."""
    for result in (Result(3, "a.png", 7, 0.99, 1), Result.failure(4, "b.png", "empty file")):
        row = result.to_dict()
        fields = dataclasses.asdict(result)
        assert row == {name: fields[name] for name in FIELDS}  # number fields only in number mode
        assert tuple(row) == FIELDS


def test_results_carry_the_digits_box_also_in_csv(small_model, data_dir) -> None:
    images, _ = load_split(data_dir, "test", limit=1)
    canvas = np.zeros((200, 300), dtype=np.uint8)
    canvas[50:106, 180:236] = np.asarray(Image.fromarray(images[0]).resize((56, 56)))
    items = [(0, "photo.png", encode(canvas)), (1, "bad.png", b"nope")]
    good, bad = predict_files(small_model, items, LIMITS)
    x, y, w, h = good.box
    assert 180 <= x <= 200 and 50 <= y <= 70 and x + w <= 236 and y + h <= 106
    assert good.to_dict()["box"] == [x, y, w, h] and bad.box is None
    rows = list(csv.DictReader(io.StringIO(to_csv([good.to_dict(), bad.to_dict()]))))
    assert [rows[0][k] for k in BOX_COLUMNS] == [str(v) for v in (x, y, w, h)]
    assert [rows[1][k] for k in BOX_COLUMNS] == ["", "", "", ""] and rows[1]["error"]
