"""Shared fixtures: the MNIST data, a small model trained on a subset, a private Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from tests.support import RedisServer

ROOT = Path(__file__).resolve().parent.parent
IMAGES_TEST = ROOT / "images_test"
SMALL_TRAIN = 3000  # training images of the test model: seconds to train, ~98% accurate


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hypothesis keeps its example database in a temporary folder, not `.hypothesis/` in the
    tree: the suite writes only to temporary folders (`.ci/run` checks `git status`)."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Settings.from_env().data_dir
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST files not in {path}: set MNISTQ_DATA_DIR or run `mnistq data fetch`")
    return path


@pytest.fixture(scope="session")
def small_model_path(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on the first SMALL_TRAIN training images, saved like `mnistq train` does."""
    from core.data import load_split
    from core.training import SMALL_RECIPE, train_model

    images, labels = load_split(data_dir, "train", limit=SMALL_TRAIN)
    model = train_model(images, labels, SMALL_RECIPE)
    path = tmp_path_factory.mktemp("model") / "small.joblib"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def small_model(small_model_path: Path):
    from core.model import DigitModel

    return DigitModel.load(small_model_path)


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test, on its own port and data directory."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture()
def settings(data_dir: Path, small_model_path: Path, redis_server: RedisServer) -> Settings:
    """Settings pointing at the test model and this test's Redis."""
    return Settings(data_dir=data_dir, model_path=small_model_path, redis_url=redis_server.url,
                    corrections_dir=redis_server.data_dir.parent / "corrections")


# The real stack as processes (tests/stack.py): `stack` per test, `shared_stack` per session;
# two small model versions and a model folder per test (tests/model_versions.py).
from tests.model_versions import model_dir, two_versions, versions_env  # noqa: E402, F401
from tests.stack import shared_stack, stack  # noqa: E402, F401
