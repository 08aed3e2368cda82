"""Model versions on disk (core/versions.py): what `mnistq train` writes and what activation,
rollback and loading accept or refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import versions
from tests.model_versions import corrupt_copy


def test_a_version_is_a_named_folder_with_model_and_metadata(
    two_versions: tuple[Path, str, str],
) -> None:
    folder, a, b = two_versions
    assert versions.is_version_name(a) and versions.is_version_name(b) and a != b
    meta = json.loads((folder / b / "model.json").read_text())
    assert meta["version"] == b and meta["parent"] == a
    assert b.endswith(meta["sha256"][:8]) and b.startswith(
        meta["created_at"][:10].replace("-", ""))
    assert meta["training_size"] == 3000 and 0.8 < meta["test_accuracy"] < 1
    assert versions.file_sha256(folder / b / "model.joblib") == meta["sha256"]
    assert [m["version"] for m in versions.list_versions(folder)] == sorted([a, b])


def test_activate_and_rollback_keep_a_history(model_dir: Path, two_versions) -> None:
    _, a, b = two_versions
    assert versions.active_version(model_dir) == a
    assert versions.activate(model_dir, b).active == b
    assert versions.read_pointer(model_dir).history == (a,)
    assert versions.rollback(model_dir).active == a
    with pytest.raises(versions.VersionError, match="no previous active version"):
        versions.rollback(model_dir)
    assert not list(model_dir.glob(".*.tmp"))  # the pointer is written through a rename


def test_unknown_and_corrupt_versions_are_refused_and_change_nothing(
    model_dir: Path, two_versions
) -> None:
    _, a, _b = two_versions
    with pytest.raises(versions.UnknownVersion) as unknown:
        versions.activate(model_dir, "20200101-000000-12345678")
    assert unknown.value.status == 404
    with pytest.raises(versions.UnknownVersion):
        versions.activate(model_dir, "../etc")  # never a path
    bad = corrupt_copy(model_dir, a)
    with pytest.raises(versions.VersionError, match="SHA-256") as corrupt:
        versions.activate(model_dir, bad)
    assert corrupt.value.status == 409
    assert versions.read_pointer(model_dir) == versions.Pointer(a)


def test_loading_a_version_checks_its_smoke_digits(model_dir: Path, two_versions) -> None:
    _, a, b = two_versions
    assert versions.load_version(model_dir, b).metadata["version"] == b
    meta_path = model_dir / a / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["smoke"]["predictions"] = [(p + 1) % 10 for p in meta["smoke"]["predictions"]]
    meta_path.write_text(json.dumps(meta))  # as if this library read them differently
    with pytest.raises(versions.VersionError, match="smoke digits differently"):
        versions.load_version(model_dir, a)
