"""The corrections store: people's readings kept on disk, atomically, beyond any job's TTL."""

from __future__ import annotations

import base64
import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from common.corrections import Correction, CorrectionStore, StoreFull, kind_of
from common.settings import Settings

JOB = "0123456789abcdef0123456789abcdef"


def digit_image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)


def correction(index: int = 0, label: int = 7, prediction: int | None = 1, *,
               created_at: float = 1_764_590_000.25, digit: int | None = None,
               seed: int = 0) -> Correction:
    return Correction(job=JOB, index=index, filename=f"scan{index}.png", label=label,
                      prediction=prediction, confidence=None if prediction is None else 0.61,
                      model="20261201-101500-abcdef12", kind=kind_of(label, prediction),
                      created_at=created_at, image=digit_image(seed), digit=digit)


def test_a_correction_comes_back_from_a_new_store_with_every_field(tmp_path: Path) -> None:
    written = correction(index=3, label=7, prediction=1, digit=2, seed=5)
    path = CorrectionStore(tmp_path / "corrections").add(written)
    assert path.name == f"{round(written.created_at * 1e9):020d}-{JOB}-3-2.json"

    [read] = CorrectionStore(tmp_path / "corrections").read()  # as after a restart
    assert (read.job, read.index, read.digit, read.filename) == (JOB, 3, 2, "scan3.png")
    assert (read.label, read.prediction, read.confidence, read.kind) == (7, 1, 0.61, "correct")
    assert read.model == "20261201-101500-abcdef12" and read.created_at == written.created_at
    assert read.image.dtype == np.uint8 and np.array_equal(read.image, written.image)


def test_the_record_is_json_with_the_image_as_784_bytes_of_base64(tmp_path: Path) -> None:
    path = CorrectionStore(tmp_path).add(correction(prediction=None))
    record = json.loads(path.read_text())
    assert record["prediction"] is None and record["confidence"] is None
    assert record["digit"] is None and record["kind"] == "correct"
    assert len(base64.b64decode(record["image"])) == 784


def test_confirming_the_models_reading_is_a_confirm() -> None:
    assert kind_of(4, 4) == "confirm"
    assert kind_of(4, 9) == "correct" and kind_of(4, None) == "correct"


def test_the_latest_correction_of_a_digit_wins_and_all_stay_on_disk(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    store.add(correction(index=0, label=7, created_at=100.0))
    store.add(correction(index=1, label=2, created_at=101.0))
    store.add(correction(index=0, label=1, created_at=102.0))  # the person changed their mind
    store.add(correction(index=0, label=5, created_at=103.0, digit=0))  # another key
    read = store.read()
    assert [(c.index, c.digit, c.label) for c in read] == [(1, None, 2), (0, None, 1),
                                                            (0, 0, 5)]
    assert len(list(tmp_path.glob("*.json"))) == 4  # append-only


def test_an_empty_or_missing_store_has_no_corrections(tmp_path: Path) -> None:
    assert CorrectionStore(tmp_path / "never-made").read() == []
    assert not (tmp_path / "never-made").exists()  # reading writes nothing


def test_a_full_disk_raises_store_full_and_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    store = CorrectionStore(tmp_path)
    store.add(correction(index=0))

    def no_space(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(StoreFull, match="no space"):
        store.add(correction(index=1, created_at=200.0))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{round(1_764_590_000.25 * 1e9):020d}-{JOB}-0.json"]  # no temp, no half record
    assert [c.index for c in store.read()] == [0]


def test_a_full_disk_on_flush_leaves_no_file_either(tmp_path: Path, monkeypatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StoreFull):
        CorrectionStore(tmp_path).add(correction())
    assert list(tmp_path.iterdir()) == []


def test_a_half_written_temporary_file_is_not_a_correction(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    store.add(correction())
    (tmp_path / f".{'1' * 20}-{JOB}-9.json.123.tmp").write_text('{"job": ')  # a crash mid-write
    assert [c.index for c in store.read()] == [0]


def test_a_damaged_record_is_named(tmp_path: Path) -> None:
    (tmp_path / f"{'1' * 20}-{JOB}-0.json").write_text('{"job": "x"}')
    with pytest.raises(ValueError, match=f"{JOB}-0.json"):
        CorrectionStore(tmp_path).read()


@pytest.mark.parametrize("change", [{"label": 10}, {"kind": "maybe"},
                                    {"image": np.zeros((28, 27), np.uint8)},
                                    {"image": np.zeros((28, 28), np.float32)}])
def test_an_impossible_correction_is_refused(change: dict) -> None:
    fields = dict(job=JOB, index=0, filename="a.png", label=3, prediction=3, confidence=0.5,
                  model=None, kind="confirm", created_at=1.0, image=digit_image(0))
    with pytest.raises(ValueError):
        Correction(**{**fields, **change})


def test_the_store_folder_is_a_setting() -> None:
    assert Settings.from_env({"MNISTQ_CORRECTIONS_DIR": "/srv/corr"}).corrections_dir == Path(
        "/srv/corr")
    assert Settings.from_env({}).corrections_dir.name == "corrections"


def test_the_digits_of_one_number_are_written_all_or_none(tmp_path: Path, monkeypatch) -> None:
    store = CorrectionStore(tmp_path)
    digits = [correction(index=2, label=d, digit=d, created_at=300.0) for d in range(4)]
    real_write, calls = os.write, []

    def fourth_fails(fd: int, data) -> int:
        calls.append(fd)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", fourth_fails)
    with pytest.raises(StoreFull):
        store.add_all(digits)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert [c.digit for c in store.read()] == []
    assert len(store.add_all(digits)) == 4 and [c.digit for c in store.read()] == [0, 1, 2, 3]
