"""`mnistq train` writes versions; `mnistq models list|activate|rollback` manage them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common import model_registry
from core import versions
from tests.conftest import IMAGES_TEST
from tests.support import RedisServer
from tests.test_cli_errors import run


def test_train_writes_a_version_and_activates_the_first(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "models"
    monkeypatch.delenv("MNISTQ_MODEL_PATH", raising=False)
    monkeypatch.setenv("MNISTQ_MODEL_DIR", str(folder))
    monkeypatch.setenv("MNISTQ_REDIS_URL", "redis://127.0.0.1:1/0")  # nobody listens
    code, out, err = run(capsys, "train", "--limit", "600", "--recipe", "small",
                         "--data-dir", str(data_dir))
    assert code == 0, err
    name = out.strip()
    assert versions.is_version_name(name) and versions.active_version(folder) == name
    assert "activated (there was no active version)" in err
    assert "activation not published" in err  # no Redis: said, and the folder is right
    meta = json.loads((folder / name / "model.json").read_text())
    assert meta["training_size"] == 600 and meta["parent"] is None and meta["test_size"] == 10000
    code, out, _ = run(capsys, "predict", str(IMAGES_TEST / "digit7_test0.png"), "--json")
    assert code == 0 and json.loads(out)[0]["prediction"] is not None


def test_models_list_activate_rollback(
    versions_env: Path, two_versions: tuple[Path, str, str], redis_server: RedisServer, capsys
) -> None:
    _, a, b = two_versions
    code, out, _ = run(capsys, "models", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["VERSION", "TEST"]
    assert lines[1].split()[0] == b and lines[2].split()[:2] == ["*", a]  # newest first
    code, out, _ = run(capsys, "models", "list", "--json")
    listed = json.loads(out)
    assert listed["active"] == a and [v["version"] for v in listed["versions"]] == [a, b]

    code, out, _ = run(capsys, "models", "activate", b)
    assert code == 0 and out.strip() == f"active: {b} (was {a})"
    assert model_registry.published_active(redis_server.client()) == b
    code, out, _ = run(capsys, "models", "rollback")
    assert code == 0 and out.strip() == f"active: {a} (was {b})"
    assert model_registry.published_active(redis_server.client()) == a
    assert versions.active_version(versions_env) == a

    code, _, err = run(capsys, "models", "activate", "20200101-000000-12345678")
    assert code == 1 and "unknown model version" in err
    code, _, err = run(capsys, "models", "rollback")
    assert code == 1 and "no previous active version" in err


def test_models_commands_say_versions_are_off_with_a_model_file(
    monkeypatch: pytest.MonkeyPatch, small_model_path: Path, capsys
) -> None:
    monkeypatch.setenv("MNISTQ_MODEL_PATH", str(small_model_path))
    code, _, err = run(capsys, "models", "list")
    assert code == 2 and "model versions are off" in err


def test_a_model_file_is_imported_as_the_first_version(
    monkeypatch: pytest.MonkeyPatch, small_model_path: Path, data_dir: Path, tmp_path: Path,
    capsys,
) -> None:
    folder = tmp_path / "models"
    monkeypatch.delenv("MNISTQ_MODEL_PATH", raising=False)
    monkeypatch.setenv("MNISTQ_MODEL_DIR", str(folder))
    monkeypatch.setenv("MNISTQ_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MNISTQ_REDIS_URL", "redis://127.0.0.1:1/0")  # nobody listens
    code, out, err = run(capsys, "models", "import", str(small_model_path))
    assert code == 0, err
    name = out.strip()
    assert versions.active_version(folder) == name and "(active)" in err
    assert versions.load_version(folder, name).metadata["smoke"]["labels"][:2] == [0, 0]
    code, _, err = run(capsys, "models", "import", str(tmp_path / "nothing.joblib"))
    assert code == 1 and "model file not found" in err
