"""Retraining from extra digits (`mnistq train --extra DIR`) and the activation gate: a version
that reads MNIST worse than the active one is refused unless forced, by the CLI and the API."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from api.app import create_app
from common.corrections import CorrectionStore
from common.settings import Settings
from core import versions
from core.data import DataError
from core.extra_set import read_extra_set, read_extra_sets, write_extra_set
from tests.support import RedisServer
from tests.test_cli_errors import run
from tests.test_corrections import correction, digit_image

WEAK_TRAIN = 300
"""Training images of the weak version: several points below the fixture's versions."""


@pytest.fixture(scope="session")
def weak_model(data_dir: Path):
    """A small model on the first WEAK_TRAIN training images, scored as the fixture's versions
    (the first 2,000 test images)."""
    from core.data import load_split
    from core.training import SMALL_RECIPE, train_model

    images, labels = load_split(data_dir, "train", limit=WEAK_TRAIN)
    test_images, test_labels = load_split(data_dir, "test", limit=2000)
    model = train_model(images, labels, SMALL_RECIPE)
    model.metadata["test_accuracy"] = float(
        (model.predict(test_images).labels == test_labels).mean())
    return model, versions.smoke_digits(test_images, test_labels)


@pytest.fixture()
def weak_version(model_dir: Path, weak_model, two_versions) -> str:
    """The weak model written as a version of this test's folder (A stays active)."""
    model, smoke = weak_model
    return versions.write_version(model, model_dir, parent=two_versions[1], smoke=smoke)


def transposed_digits(data_dir: Path, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training digits mirrored across their diagonal: a hand MNIST never saw."""
    from core.data import load_split

    images, labels = load_split(data_dir, "train", limit=start + count)
    return np.ascontiguousarray(images[start:].transpose(0, 2, 1)), labels[start:]


def test_an_extra_set_is_mnist_idx_files_plus_a_table_for_people(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    rows = [{"label": d, "prediction": 1, "model": "20261201-101500-abcdef12", "kind": "correct",
             "created_at": "2026-12-01T10:15:00+00:00"} for d in range(5)]
    out = write_extra_set(tmp_path / "extra", images, [0, 1, 2, 3, 4], rows)
    assert sorted(p.name for p in out.iterdir()) == [
        "images-idx3-ubyte.gz", "labels-idx1-ubyte.gz", "labels.csv"]
    assert (out / "labels.csv").read_text().splitlines()[:2] == [
        "index,label,prediction,model,kind,created_at",
        "0,0,1,20261201-101500-abcdef12,correct,2026-12-01T10:15:00+00:00"]
    read = read_extra_set(out)
    assert np.array_equal(read.images, images) and read.labels.tolist() == [0, 1, 2, 3, 4]
    both = read_extra_sets([out, out])
    assert len(both) == 10 and both.sources == (str(out), str(out))

    trained, held = both.split(0.2, seed=0)
    _, held_again = both.split(0.2, seed=0)
    assert len(held) == 2 and len(trained) == 8
    assert np.array_equal(held.images, held_again.images)  # seeded: the same digits each run

    (out / "labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"labels-idx1-ubyte\.gz"):
        read_extra_set(out)
    with pytest.raises(DataError, match="not a folder"):
        read_extra_set(tmp_path / "nothing")


def test_train_with_extra_digits_learns_them_and_reports_both_models_figures(
    versions_env: Path, two_versions: tuple[Path, str, str], data_dir: Path, tmp_path: Path,
    capsys,
) -> None:
    _, a, _b = two_versions
    images, labels = transposed_digits(data_dir, 10_000, 300)
    extra = write_extra_set(tmp_path / "extra", images, labels.tolist(),
                            [{"label": int(x)} for x in labels])
    code, out, err = run(capsys, "train", "--limit", "3000", "--recipe", "small",
                         "--extra", str(extra))
    assert code == 0, err
    name = out.strip()
    meta = json.loads((versions_env / name / "model.json").read_text())
    assert meta["parent"] == a and meta["extra_size"] == 240
    assert meta["extra"]["trained_on"] == 240 and meta["extra"]["held_out"] == 60
    assert meta["extra"]["sources"] == [str(extra)]
    compared = meta["compared_with"]
    assert compared["version"] == a and compared["test_accuracy"] > 0.9
    # the 60 held-out mirrored digits: the served model cannot read them, the new one learnt
    assert meta["extra"]["holdout_accuracy"] >= compared["extra_holdout_accuracy"] + 0.25
    assert "held-out extra digits (60)" in err

    code, _, err = run(capsys, "train", "--limit", "600", "--extra", str(tmp_path / "none"))
    assert code == 2 and "not a folder" in err


def test_activation_refuses_a_version_that_reads_mnist_worse_unless_forced(
    versions_env: Path, two_versions: tuple[Path, str, str], weak_version: str, capsys
) -> None:
    _, a, _b = two_versions
    code, _, err = run(capsys, "models", "activate", weak_version)
    assert code == 1 and "points below the active" in err
    active_line = next(line for line in err.splitlines() if line.strip().startswith("active"))
    candidate_line = next(line for line in err.splitlines()
                          if line.strip().startswith("candidate"))
    assert a in active_line and weak_version in candidate_line
    assert versions.active_version(versions_env) == a  # nothing changed

    code, out, _ = run(capsys, "models", "activate", weak_version, "--force")
    assert code == 0 and out.strip() == f"active: {weak_version} (was {a})"
    code, _, _ = run(capsys, "models", "activate", a)  # better than the active: no gate
    assert code == 0 and versions.active_version(versions_env) == a


def test_put_model_answers_409_with_both_figures_unless_forced(
    model_dir: Path, two_versions: tuple[Path, str, str], weak_version: str, data_dir: Path,
    redis_server: RedisServer,
) -> None:
    _, a, _b = two_versions
    settings = Settings(data_dir=data_dir, model_dir=model_dir, redis_url=redis_server.url)
    client = create_app(settings).test_client()
    refused = client.put("/api/v1/model", json={"version": weak_version})
    body = refused.get_json()
    assert refused.status_code == 409 and "points below the active" in body["error"]
    assert body["active"]["version"] == a and body["candidate"]["version"] == weak_version
    assert body["active"]["test_accuracy"] - body["candidate"]["test_accuracy"] > 0.002
    assert client.get("/api/v1/models").get_json()["active"] == a

    assert client.put("/api/v1/model", json={"version": weak_version, "force": "yes"}
                      ).status_code == 400
    forced = client.put("/api/v1/model", json={"version": weak_version, "force": True})
    assert forced.status_code == 200 and forced.get_json()["version"] == weak_version
    assert versions.active_version(model_dir) == weak_version


def test_corrections_stats_and_export_feed_train_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    store = CorrectionStore(tmp_path / "corrections")
    monkeypatch.setenv("MNISTQ_CORRECTIONS_DIR", str(store.folder))
    code, _, err = run(capsys, "corrections", "export", "--out", str(tmp_path / "out"))
    assert code == 1 and "no corrections in" in err
    week_49, week_50 = 1_764_590_000.0, 1_764_590_000.0 + 7 * 86400  # 1 Dec 2025, 8 Dec
    store.add(correction(index=0, label=7, prediction=1, created_at=week_49, seed=1))
    store.add(correction(index=1, label=3, prediction=3, created_at=week_49 + 1, seed=2))
    store.add(replace(correction(index=2, label=7, prediction=None, created_at=week_50,
                                 seed=3), model=None))

    code, out, _ = run(capsys, "corrections", "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["total"] == 3
    assert stats["by_label"] == {**{str(d): 0 for d in range(10)}, "3": 1, "7": 2}
    assert stats["by_kind"] == {"confirm": 1, "correct": 2}
    assert stats["by_model"] == {"20261201-101500-abcdef12": 2, "unknown": 1}
    assert stats["by_week"] == {"2025-W49": 2, "2025-W50": 1}
    code, out, _ = run(capsys, "corrections", "stats")
    assert code == 0 and out.splitlines()[0] == "3 corrections" and "2025-W50: 1" in out

    code, out, _ = run(capsys, "corrections", "export", "--out", str(tmp_path / "out"))
    assert code == 0 and out.startswith("3 digits written to")
    exported = read_extra_set(tmp_path / "out")
    assert exported.labels.tolist() == [7, 3, 7]  # oldest first
    assert np.array_equal(exported.images[1], digit_image(2))
    table = (tmp_path / "out" / "labels.csv").read_text().splitlines()
    assert table[1] == "0,7,1,20261201-101500-abcdef12,correct,2025-12-01T11:53:20+00:00"
    assert table[3].startswith("2,7,,,correct,")
