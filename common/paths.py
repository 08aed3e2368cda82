"""Where mnist-queue keeps its files: the data, the model, and (later) its other folders.

Each default resolves in this order:
1. the `MNISTQ_*` variable, when set;
2. the project's own folders when the code runs from a checkout (a source tree with
   `pyproject.toml` and `.git` beside the packages): `../shared/mnist` if it exists, else
   `data/mnist`, and `models/`;
3. otherwise the user's data directory (`platformdirs`: `~/.local/share/mnist-queue/` on
   Linux), because an installed package must never write into its own installation.

`resolve_path` is general: a new folder (model versions, corrections) is one `Location` more.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "mnist-queue"
PACKAGES_PARENT = Path(__file__).resolve().parent.parent
"""The folder that holds the `common` package: a checkout's root, or site-packages."""


def checkout_root(packages_parent: Path = PACKAGES_PARENT) -> Path | None:
    """The source tree the code runs from, or None when it runs as an installed package.

    A checkout is recognised by what only a source tree has beside its packages: the
    project file and git's metadata (a folder, or a file in a git worktree)."""
    if (packages_parent / "pyproject.toml").is_file() and (packages_parent / ".git").exists():
        return packages_parent
    return None


def user_data_dir() -> Path:
    """The user's data directory for mnist-queue (honours XDG_DATA_HOME and HOME)."""
    return platformdirs.user_data_path(APP_NAME)


@dataclass(frozen=True)
class Location:
    """How one path setting gets its default, in a checkout and in the user data directory."""

    variable: str
    """The `MNISTQ_*` variable that overrides it."""
    in_checkout: tuple[str, ...]
    """Candidates relative to the checkout root; the first that exists wins, else the last."""
    in_user_dir: str
    """Relative to the user data directory."""


DATA_DIR = Location("MNISTQ_DATA_DIR", ("../shared/mnist", "data/mnist"), "mnist")
MODEL_PATH = Location("MNISTQ_MODEL_PATH", ("models/mnist_svc.joblib",), "models/mnist_svc.joblib")
"""A single model file; only where MNISTQ_MODEL_PATH is set is it served (versions off)."""
MODEL_DIR = Location("MNISTQ_MODEL_DIR", ("models",), "models")
"""The model versions (core/versions.py), one folder each, and the pointer to the active one."""
CORRECTIONS_DIR = Location("MNISTQ_CORRECTIONS_DIR", ("corrections",), "corrections")
"""The corrections store (common/corrections.py): people's readings of doubtful results."""


@dataclass(frozen=True)
class ResolvedPath:
    """A path and where it came from (shown by `mnistq up` and `mnistq doctor`)."""

    path: Path
    source: str
    """`MNISTQ_...`, "checkout" or "user data directory"."""


def resolve_path(
    location: Location,
    environ: Mapping[str, str] | None = None,
    packages_parent: Path = PACKAGES_PARENT,
    user_dir: Path | None = None,
) -> ResolvedPath:
    """The path of `location`: the variable, else the checkout's folder, else the user's.

    Tests pass a fake environment, a `packages_parent` (a checkout or not) and a `user_dir`."""
    env = os.environ if environ is None else environ
    raw = env.get(location.variable)
    if raw:
        return ResolvedPath(Path(raw).expanduser(), location.variable)
    root = checkout_root(packages_parent)
    if root is not None:
        candidates = [(root / rel).resolve() for rel in location.in_checkout]
        found = next((c for c in candidates if c.exists()), candidates[-1])
        return ResolvedPath(found, "checkout")
    base = user_data_dir() if user_dir is None else user_dir
    return ResolvedPath(base / location.in_user_dir, "user data directory")


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be created in `folder`, or None when they can; writes nothing.

    The folder may not exist yet: then its nearest existing ancestor must be a writable folder."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create {folder}: {existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write to {folder}: {existing} is not writable by this user"
    return None
