"""`mnistq models list|activate|rollback`, and how `mnistq train` saves a new version.

The model folder (MNISTQ_MODEL_DIR) holds the versions and the pointer to the active one
(`core/versions.py`); activating also publishes the name in the service's Redis when it is
reachable, and the workers switch by themselves (`worker/tasks.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import redis

from common import model_registry
from common.redis_keys import HEARTBEAT_MAX_AGE
from common.settings import Settings
from core import versions

PUBLISH_TIMEOUT = 2.0
"""Seconds to reach Redis when publishing an activation (the folder is written anyway)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="list, activate and roll back model versions")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="the versions, their accuracy, the active one, who serves")
    ls.add_argument("--json", action="store_true", help="print GET /api/v1/models's object")
    ls.set_defaults(func=cmd_list)
    act = sub.add_parser("activate", help="make VERSION the one the workers serve")
    act.add_argument("version", metavar="VERSION")
    act.add_argument("--force", action="store_true",
                     help="activate even when its MNIST test accuracy is more than 0.2 points "
                     "below the active version's (the quality gate)")
    act.add_argument("--wait", type=float, metavar="SECONDS",
                     help="then wait until every live worker serves it (exit 1 if not)")
    act.set_defaults(func=cmd_activate)
    back = sub.add_parser("rollback", help="make the previously active version active again")
    back.add_argument("--wait", type=float, metavar="SECONDS",
                      help="then wait until every live worker serves it (exit 1 if not)")
    back.set_defaults(func=cmd_rollback)
    imp = sub.add_parser("import", help="make a model file (mnistq train --out) a version")
    imp.add_argument("path", type=Path, metavar="FILE")
    imp.set_defaults(func=cmd_import)


def served_model_path(settings: Settings) -> Path:
    """The model file the service serves: MNISTQ_MODEL_PATH, else the active version's.
    `versions.NoActiveVersion` when there is neither."""
    if settings.model_path is not None:
        return settings.model_path
    return versions.active_model_file(settings.model_dir)


def save_as_version(model: Any, settings: Settings, test_images: Any, test_labels: Any) -> int:
    """What `mnistq train` does without `--out`: a new version (its name on stdout), active
    when none is yet; its parent is the active version."""
    model_dir = settings.model_dir
    try:
        parent = versions.active_version(model_dir)
        smoke = versions.smoke_digits(test_images, test_labels)
        name = versions.write_version(model, model_dir, parent=parent, smoke=smoke)
    except (OSError, versions.VersionError) as exc:
        print(f"mnistq train: cannot write a version in {model_dir}: "
              f"{getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    note = "not activated (the active one is still " f"{parent}; `mnistq models activate {name}`)"
    if versions.activate_if_none(model_dir, name):
        note = "activated (there was no active version)"
        _publish(settings, name)
    print(f"mnistq train: version {name} in {model_dir}, {note}", file=sys.stderr)
    print(name)
    return 0


def import_file(path: Path, settings: Settings) -> str:
    """A single model file (with its `.json`) as a new version, active when none is; its
    smoke digits come from the MNIST test set when MNISTQ_DATA_DIR has it. Raises
    ModelError, DataError, OSError or VersionError."""
    from core.data import DataError, load_split
    from core.model import DigitModel

    model = DigitModel.load(path)  # checks its sha256 and library versions
    try:
        smoke = versions.smoke_digits(*load_split(settings.data_dir, "test"))
    except DataError:
        smoke = None
    parent = versions.active_version(settings.model_dir)
    name = versions.write_version(model, settings.model_dir, parent=parent, smoke=smoke)
    if versions.activate_if_none(settings.model_dir, name):
        _publish(settings, name)
    return name


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from core.model import ModelError

    if (code := _versions_off(settings, "import")) is not None:
        return code
    try:
        name = import_file(args.path, settings)
    except (ModelError, OSError, versions.VersionError) as exc:
        print(f"mnistq models import: {exc}", file=sys.stderr)
        return 1
    active = versions.active_version(settings.model_dir)
    print(f"mnistq models import: {args.path} is version {name}"
          f"{' (active)' if active == name else ''}", file=sys.stderr)
    print(name)
    return 0


def _versions_off(settings: Settings, command: str) -> int | None:
    if settings.model_path is None:
        return None
    print(f"mnistq models {command}: model versions are off: MNISTQ_MODEL_PATH names a single "
          "model file (unset it to use the versions of MNISTQ_MODEL_DIR)", file=sys.stderr)
    return 2


def _client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.broker_url, socket_connect_timeout=PUBLISH_TIMEOUT,
                                socket_timeout=PUBLISH_TIMEOUT)


def _publish(settings: Settings, version: str) -> bool:
    """Publish the activation to the workers; False (and why, on stderr) when Redis is away."""
    try:
        model_registry.publish_active(_client(settings), version)
        return True
    except redis.RedisError as exc:
        print(f"mnistq models: activation not published, Redis at {settings.broker_url} "
              f"unreachable ({exc}); workers started from now on serve {version}, running ones "
              "keep their model until it is published (activate it again)", file=sys.stderr)
        return False


def _workers(settings: Settings) -> list[dict[str, Any]] | None:
    try:
        return model_registry.served_by_workers(_client(settings), HEARTBEAT_MAX_AGE)
    except redis.RedisError:
        return None


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if (code := _versions_off(settings, "list")) is not None:
        return code
    try:
        active = versions.active_version(settings.model_dir)
    except versions.VersionError as exc:
        print(f"mnistq models list: {exc}", file=sys.stderr)
        return 1
    listed = versions.list_versions(settings.model_dir)
    workers = _workers(settings)
    if args.json:
        for meta in listed:
            meta.pop("smoke", None)
        print(json.dumps({"active": active, "versions": listed, "workers": workers or []}))
        return 0
    if not listed:
        print(f"no model versions in {settings.model_dir} (train one with `mnistq train`)")
        return 0
    print(f"{'':2}{'VERSION':<26}{'TEST ACC':>9}{'TRAINED ON':>11}  {'PARENT':<26}SERVED BY")
    for meta in reversed(listed):
        name = meta["version"]
        accuracy = meta.get("test_accuracy")
        serving = ("?" if workers is None else
                   ", ".join(w["name"] for w in workers if w["version"] == name) or "-")
        print(f"{'*' if name == active else '':2}{name:<26}"
              f"{f'{accuracy:.2%}' if isinstance(accuracy, float) else '-':>9}"
              f"{meta.get('training_size') or '-':>11}  {meta.get('parent') or '-':<26}{serving}")
    if workers is None:
        print(f"(workers unknown: Redis at {settings.broker_url} unreachable)")
    for worker in workers or []:
        if worker["error"]:
            print(f"worker {worker['name']} serves {worker['version']}: {worker['error']}")
    return 0


def _after_activation(settings: Settings, version: str, wait: float | None) -> int:
    """Publish, then with `--wait`, wait until every live worker serves `version`."""
    if not _publish(settings, version) or wait is None:
        return 0
    deadline = time.monotonic() + wait
    while True:
        workers = _workers(settings) or []
        behind = [w for w in workers if w["version"] != version]
        if workers and not behind:
            print(f"all {len(workers)} workers serve {version}", file=sys.stderr)
            return 0
        refused = [w for w in behind if w["error"]]
        if refused or time.monotonic() > deadline:
            for w in behind:
                print(f"worker {w['name']} still serves {w['version']}"
                      f"{': ' + w['error'] if w['error'] else ''}", file=sys.stderr)
            return 1
        time.sleep(0.1)


def cmd_activate(args: argparse.Namespace, settings: Settings) -> int:
    if (code := _versions_off(settings, "activate")) is not None:
        return code
    try:
        before = versions.active_version(settings.model_dir)
        versions.activate(settings.model_dir, args.version, force=args.force)
    except versions.GateRefused as exc:
        print(f"mnistq models activate: {exc}", file=sys.stderr)
        for role, figures in (("active", exc.active), ("candidate", exc.candidate)):
            print(f"  {role:<10} {figures['version']}: MNIST test "
                  f"{_percent(figures['test_accuracy'])}, held-out corrections "
                  f"{_percent(figures['extra_holdout_accuracy'])}", file=sys.stderr)
        return 1
    except versions.VersionError as exc:
        print(f"mnistq models activate: {exc}", file=sys.stderr)
        return 1
    print(f"active: {args.version} (was {before or 'none'})")
    return _after_activation(settings, args.version, args.wait)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    if (code := _versions_off(settings, "rollback")) is not None:
        return code
    try:
        before = versions.active_version(settings.model_dir)
        pointer = versions.rollback(settings.model_dir)
    except versions.VersionError as exc:
        print(f"mnistq models rollback: {exc}", file=sys.stderr)
        return 1
    assert pointer.active is not None
    print(f"active: {pointer.active} (was {before})")
    return _after_activation(settings, pointer.active, args.wait)
