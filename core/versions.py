"""Model versions on disk: immutable folders, and a pointer that says which one is active.

Layout of the model folder (`MNISTQ_MODEL_DIR`):

    <dir>/<version>/model.joblib     the artifact (written by `DigitModel.save`)
    <dir>/<version>/model.json       its metadata: recipe, training counts, accuracies, sha256,
                                     created_at, parent, version, smoke (labels, predictions)
    <dir>/<version>/smoke.npy        a few known test digits (uint8, n x 28 x 28): a worker
                                     switches to the version only if it reads them as the
                                     version did when it was trained
    <dir>/ACTIVE.json                {"active": VERSION, "history": [older actives, newest last]}

`<version>` is `YYYYMMDD-HHMMSS-<first 8 hex of the artifact's sha256>` (UTC). A version is
written under a hidden temporary name and renamed into place, so a reader never sees half a
version; nothing edits a version afterwards. The pointer is written through a temporary file
and renamed, under a lock file, so that two activations never interleave. No Redis here: the
service publishes the active name (`common.model_registry`); this module is the files.
It imports numpy and scikit-learn only in the functions that train or load a model, so the
API can list and activate versions without them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.metadata import described, file_sha256, metadata_path

if TYPE_CHECKING:
    import numpy as np

    from core.model import DigitModel

MODEL_FILE = "model.joblib"
SMOKE_FILE = "smoke.npy"
ACTIVE_FILE = "ACTIVE.json"
LOCK_FILE = ".lock"
MAX_ACCURACY_DROP = 0.002
"""The activation gate: a version whose MNIST test accuracy is more than this (0.2 points)
below the active one's is refused unless forced."""
HISTORY_KEPT = 50
"""Previous actives remembered for `rollback`."""
_VERSION = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")


class VersionError(Exception):
    """A version that cannot be activated or served; `status` is the HTTP answer it means."""

    status = 409


class GateRefused(VersionError):
    """The quality gate refused a version; `active` and `candidate` carry the figures."""

    def __init__(self, message: str, active: dict[str, Any], candidate: dict[str, Any]):
        super().__init__(message)
        self.active, self.candidate = active, candidate


class UnknownVersion(VersionError):
    status = 404


class NoActiveVersion(VersionError):
    status = 404


def is_version_name(name: str) -> bool:
    """True when `name` has a version's shape (anything else is simply unknown)."""
    return bool(_VERSION.match(name))


def version_name(created_at: datetime, sha256: str) -> str:
    return f"{created_at.astimezone(UTC):%Y%m%d-%H%M%S}-{sha256[:8]}"


def model_file(model_dir: Path, version: str) -> Path:
    return Path(model_dir) / version / MODEL_FILE


@dataclass(frozen=True)
class Pointer:
    """The content of ACTIVE.json."""

    active: str | None
    history: tuple[str, ...] = ()


def smoke_digits(images: np.ndarray, labels: np.ndarray, per_digit: int = 2
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The first `per_digit` images of each digit (of a test set): the smoke images."""
    import numpy as np

    picked = np.concatenate([np.flatnonzero(labels == d)[:per_digit] for d in range(10)])
    return np.ascontiguousarray(images[picked], dtype=np.uint8), np.asarray(labels)[picked]


def write_version(
    model: DigitModel, model_dir: Path, parent: str | None = None,
    smoke: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """Save `model` as a new immutable version in `model_dir`; returns the version's name.

    `model.metadata` gains created_at, parent and version (and save adds sha256); `smoke`
    (images, labels) is kept with the version with what this model reads on them."""
    import numpy as np

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=model_dir))
    try:
        model.metadata.update(created_at=created.isoformat(timespec="seconds").replace(
            "+00:00", "Z"), parent=parent)
        if smoke is not None:
            images, labels = smoke
            np.save(staging / SMOKE_FILE, np.asarray(images, dtype=np.uint8), allow_pickle=False)
            model.metadata["smoke"] = {
                "labels": [int(x) for x in labels],
                "predictions": [int(x) for x in model.predict(images).labels]}
        model.save(staging / MODEL_FILE)  # writes model.json with the sha256
        name = version_name(created, model.metadata["sha256"])
        model.metadata["version"] = name
        text = json.dumps(model.metadata, indent=2, sort_keys=True) + "\n"
        metadata_path(staging / MODEL_FILE).write_text(text)
        os.chmod(staging, 0o755)
        os.rename(staging, model_dir / name)  # atomic; fails if the name exists
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return name


def read_metadata(model_dir: Path, version: str) -> dict[str, Any]:
    """The metadata of one version as shown (`core.model.described`); UnknownVersion when
    there is no such version."""
    if not is_version_name(version):
        raise UnknownVersion(f"unknown model version {version!r}")
    path = metadata_path(model_file(model_dir, version))
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UnknownVersion(f"unknown model version {version!r} (not in {model_dir})") from None
    except (OSError, ValueError) as exc:
        raise VersionError(f"version {version}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise VersionError(f"version {version}: metadata is not a JSON object")
    return {**described(meta), "version": version}


def list_versions(model_dir: Path) -> list[dict[str, Any]]:
    """The metadata of every version, oldest first (names sort by time)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = []
    for entry in sorted(model_dir.iterdir()):
        if entry.is_dir() and is_version_name(entry.name):
            with contextlib.suppress(VersionError):
                found.append(read_metadata(model_dir, entry.name))
    return found


def check_version(model_dir: Path, version: str) -> dict[str, Any]:
    """The metadata of a version fit to serve: it exists and its file matches its sha256.

    UnknownVersion (404) or VersionError (409) with the reason otherwise."""
    meta = read_metadata(model_dir, version)
    path = model_file(model_dir, version)
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise VersionError(f"version {version}: cannot read {path.name} "
                           f"({exc.strerror or exc})") from None
    if digest != meta.get("sha256"):
        raise VersionError(f"version {version}: {path.name} has SHA-256 {digest[:12]}..., "
                           f"its metadata says {str(meta.get('sha256'))[:12]}...: the file was "
                           "changed or damaged")
    return meta


def load_version(model_dir: Path, version: str) -> DigitModel:
    """Load a version to serve it: its checksum, its library versions (`DigitModel.load`),
    then its smoke digits read as when it was trained. VersionError says why not."""
    import numpy as np

    from core.model import DigitModel, ModelError

    check_version(model_dir, version)
    try:
        model = DigitModel.load(model_file(model_dir, version))
    except ModelError as exc:
        raise VersionError(f"version {version}: {exc}") from None
    smoke = model.metadata.get("smoke")
    if smoke:
        try:
            images = np.load(Path(model_dir) / version / SMOKE_FILE, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise VersionError(f"version {version}: cannot read its smoke digits ({exc})"
                               ) from None
        read = [int(x) for x in model.predict(images).labels]
        wrong = sum(a != b for a, b in zip(read, smoke["predictions"], strict=False))
        if wrong or len(read) != len(smoke["predictions"]):
            raise VersionError(f"version {version}: reads {wrong} of its {len(read)} smoke "
                               "digits differently than when it was trained")
    model.metadata["version"] = version
    return model


def read_pointer(model_dir: Path) -> Pointer:
    """ACTIVE.json, or an empty pointer when there is none yet."""
    try:
        raw = json.loads((Path(model_dir) / ACTIVE_FILE).read_text())
    except FileNotFoundError:
        return Pointer(None)
    except (OSError, ValueError) as exc:
        raise VersionError(f"{Path(model_dir) / ACTIVE_FILE}: unreadable ({exc})") from None
    return Pointer(raw.get("active"), tuple(raw.get("history") or ()))


def active_version(model_dir: Path) -> str | None:
    return read_pointer(model_dir).active


def active_model_file(model_dir: Path) -> Path:
    """The model file of the active version; NoActiveVersion when none is active."""
    version = active_version(model_dir)
    if version is None:
        raise NoActiveVersion(f"no active model version in {model_dir} (train one with "
                              "`mnistq train`)")
    return model_file(model_dir, version)


@contextlib.contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    """An exclusive lock on the model folder while the pointer is read and rewritten."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_pointer(model_dir: Path, pointer: Pointer) -> None:
    text = json.dumps({"active": pointer.active, "history": list(pointer.history)}, indent=1)
    tmp = model_dir / f".{ACTIVE_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(text + "\n")
        os.replace(tmp, model_dir / ACTIVE_FILE)
    finally:
        tmp.unlink(missing_ok=True)


def gate_figures(meta: dict[str, Any]) -> dict[str, Any]:
    """What the gate compares of a version (also its 409's `active` and `candidate`)."""
    extra = meta.get("extra") or {}
    return {"version": meta.get("version"), "test_accuracy": meta.get("test_accuracy"),
            "test_size": meta.get("test_size"),
            "extra_holdout_accuracy": extra.get("holdout_accuracy")}


def check_gate(model_dir: Path, active: str | None, candidate: dict[str, Any]) -> None:
    """GateRefused when `candidate`'s MNIST test accuracy is more than MAX_ACCURACY_DROP below
    the active version's. A version without that figure (an imported file that had none)
    cannot be judged, and passes."""
    if active is None or active == candidate.get("version"):
        return
    try:
        current = gate_figures(read_metadata(model_dir, active))
    except VersionError:
        return  # the active version is gone or unreadable: nothing to compare with
    new = gate_figures(candidate)
    if not isinstance(current["test_accuracy"], float | int) or not isinstance(
            new["test_accuracy"], float | int):
        return
    drop = current["test_accuracy"] - new["test_accuracy"]
    if drop > MAX_ACCURACY_DROP + 1e-12:
        raise GateRefused(
            f"version {new['version']} reads the MNIST test set at {new['test_accuracy']:.2%}, "
            f"{100 * drop:.2f} points below the active {active} ({current['test_accuracy']:.2%});"
            f" the gate allows {100 * MAX_ACCURACY_DROP:.1f}: force it to activate anyway",
            current, new)


def activate(model_dir: Path, version: str, force: bool = False) -> Pointer:
    """Make `version` active after checking it (404/409 errors change nothing) and, unless
    `force`, passing the quality gate (`check_gate`); the previous active goes onto the
    history for `rollback`."""
    model_dir = Path(model_dir)
    meta = check_version(model_dir, version)
    with _locked(model_dir):
        pointer = read_pointer(model_dir)
        if pointer.active == version:
            return pointer
        if not force:
            check_gate(model_dir, pointer.active, meta)
        history = (*pointer.history, pointer.active) if pointer.active else pointer.history
        new = Pointer(version, history[-HISTORY_KEPT:])
        _write_pointer(model_dir, new)
        return new


def activate_if_none(model_dir: Path, version: str) -> bool:
    """Activate `version` only when no version is active yet (a first `mnistq train`)."""
    model_dir = Path(model_dir)
    with _locked(model_dir):
        if read_pointer(model_dir).active is not None:
            return False
        _write_pointer(model_dir, Pointer(version))
        return True


def rollback(model_dir: Path) -> Pointer:
    """Make the previous active version active again (checked like `activate`)."""
    model_dir = Path(model_dir)
    with _locked(model_dir):
        pointer = read_pointer(model_dir)
        if not pointer.history:
            raise VersionError("no previous active version to roll back to")
        previous = pointer.history[-1]
        check_version(model_dir, previous)
        new = Pointer(previous, pointer.history[:-1])
        _write_pointer(model_dir, new)
        return new
