"""Fixtures for model versions: two small versions trained on different subsets, and a model
folder per test that holds them with the first one active (tests/conftest.py registers them).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import versions
from tests.support import RedisServer

SMALL_TRAIN = 3000  # as tests/conftest.py: training images of one small version


@pytest.fixture(scope="session")
def two_versions(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A model folder with versions A (training images 0-2,999) and B (3,000-5,999, parent
    A), as `mnistq train` writes them; (folder, A, B). Copy it, never change it."""
    from core.data import load_split
    from core.training import SMALL_RECIPE, train_model

    images, labels = load_split(data_dir, "train", limit=2 * SMALL_TRAIN)
    test_images, test_labels = load_split(data_dir, "test", limit=2000)
    smoke = versions.smoke_digits(test_images, test_labels)
    folder = tmp_path_factory.mktemp("versions") / "models"
    names = []
    for part in (slice(0, SMALL_TRAIN), slice(SMALL_TRAIN, 2 * SMALL_TRAIN)):
        model = train_model(images[part], labels[part], SMALL_RECIPE)
        model.metadata["test_accuracy"] = float(
            (model.predict(test_images).labels == test_labels).mean())
        names.append(versions.write_version(model, folder, names[-1] if names else None, smoke))
    return folder, names[0], names[1]


@pytest.fixture()
def model_dir(two_versions: tuple[Path, str, str], tmp_path: Path) -> Path:
    """This test's copy of the two versions, with A active."""
    source, a, _b = two_versions
    folder = tmp_path / "models"
    shutil.copytree(source, folder)
    versions.activate(folder, a)
    return folder


@pytest.fixture()
def versions_env(monkeypatch: pytest.MonkeyPatch, model_dir: Path, data_dir: Path,
                 redis_server: RedisServer) -> Path:
    """The environment of a `mnistq` command run in-process on this test's model folder."""
    monkeypatch.delenv("MNISTQ_MODEL_PATH", raising=False)
    monkeypatch.setenv("MNISTQ_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("MNISTQ_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MNISTQ_REDIS_URL", redis_server.url)
    return model_dir


def corrupt_copy(model_dir: Path, version: str) -> str:
    """A copy of `version` under another name whose model file no longer matches its sha256."""
    name = "20990101-000000-" + "0badf00d"
    shutil.copytree(model_dir / version, model_dir / name)
    path = versions.model_file(model_dir, name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return name
