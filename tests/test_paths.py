"""Where the data and the model are looked for: the variable, the checkout, the user's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.paths import (
    CORRECTIONS_DIR,
    DATA_DIR,
    MODEL_DIR,
    MODEL_PATH,
    checkout_root,
    resolve_path,
    unwritable_reason,
    user_data_dir,
)
from common.settings import Settings


def make_checkout(root: Path, git_as_file: bool = False) -> Path:
    """A folder that looks like a source tree: pyproject.toml and git's metadata."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\n")
    if git_as_file:  # a git worktree has a .git file pointing at the main repository
        (root / ".git").write_text("gitdir: /elsewhere\n")
    else:
        (root / ".git").mkdir()
    return root


def test_the_variable_wins_over_everything(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "repo")
    env = {"MNISTQ_DATA_DIR": "~/digits", "MNISTQ_MODEL_PATH": str(tmp_path / "m.joblib")}
    data = resolve_path(DATA_DIR, env, root, user_dir=tmp_path / "user")
    model = resolve_path(MODEL_PATH, env, root, user_dir=tmp_path / "user")
    assert data.path == Path("~/digits").expanduser() and data.source == "MNISTQ_DATA_DIR"
    assert model.path == tmp_path / "m.joblib" and model.source == "MNISTQ_MODEL_PATH"


def test_a_checkout_uses_its_own_folders(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "work" / "repo")
    user = tmp_path / "user"
    assert resolve_path(DATA_DIR, {}, root, user).path == root / "data" / "mnist"
    shared = tmp_path / "work" / "shared" / "mnist"
    shared.mkdir(parents=True)
    data = resolve_path(DATA_DIR, {}, root, user)
    assert data.path == shared and data.source == "checkout"  # the team's copy beside it
    model = resolve_path(MODEL_PATH, {"MNISTQ_DATA_DIR": ""}, root, user)  # empty = unset
    assert model.path == root / "models" / "mnist_svc.joblib" and model.source == "checkout"


def test_a_git_worktree_is_a_checkout(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "wt", git_as_file=True)
    assert checkout_root(root) == root


@pytest.mark.parametrize("files", [(), ("pyproject.toml",), (".git",)])
def test_an_installed_package_uses_the_user_data_directory(tmp_path: Path, files) -> None:
    site_packages = tmp_path / "venv" / "lib" / "site-packages"  # holds `common`, `core`...
    site_packages.mkdir(parents=True)
    for name in files:  # half a checkout is not one
        (site_packages / name).write_text("")
    user = tmp_path / "home" / ".local" / "share" / "mnist-queue"
    assert checkout_root(site_packages) is None
    data = resolve_path(DATA_DIR, {}, site_packages, user)
    model = resolve_path(MODEL_PATH, {}, site_packages, user)
    assert data.path == user / "mnist" and data.source == "user data directory"
    assert model.path == user / "models" / "mnist_svc.joblib"
    assert resolve_path(MODEL_DIR, {}, site_packages, user).path == user / "models"
    assert resolve_path(CORRECTIONS_DIR, {}, site_packages, user).path == user / "corrections"
    assert not user.exists()  # resolving writes nothing


def test_the_user_data_directory_follows_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert user_data_dir() == tmp_path / ".local" / "share" / "mnist-queue"


def test_this_tree_is_a_checkout_and_settings_use_it() -> None:
    root = Path(__file__).resolve().parent.parent
    assert checkout_root() == root
    settings = Settings.from_env({})
    assert settings.model_path is None  # unset: the active version of model_dir is served
    assert settings.model_dir == root / "models"
    assert Settings.from_env({"MNISTQ_MODEL_PATH": "/x/m.joblib"}).model_path == Path(
        "/x/m.joblib")


def test_a_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "home" / ".local"
    blocker.parent.mkdir()
    blocker.write_text("a file where a folder should be")
    reason = unwritable_reason(blocker / "share" / "mnist-queue" / "models")
    assert reason and f"{blocker} is not a folder" in reason
    assert unwritable_reason(tmp_path / "new" / "models") is None
    assert not (tmp_path / "new").exists()
