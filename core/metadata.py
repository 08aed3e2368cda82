"""What of a model's metadata is shown to people and to other processes.

The metadata (the `.json` beside a model file) of a model of format 2 also carries the
whole-digit verifier's weights (`core.wholeness`, about 35 KB as base64; format 3 keeps them
in the artifact): the model needs them, the API's answers and the workers' heartbeat do
not. Where the metadata lives and the checksum that ties it to its model file are here too.
Light on purpose (no numpy): `core.versions` and the API use it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

VERIFIER_WEIGHTS = ("mean", "scale", "hidden", "hidden_bias", "out")
"""The keys of `metadata["wholeness"]` that hold weights (base64 float32 arrays)."""


def described(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata without the verifier's weights (its summary kept)."""
    verifier = metadata.get("wholeness")
    if not isinstance(verifier, dict):
        return metadata
    summary = {k: v for k, v in verifier.items() if k not in VERIFIER_WEIGHTS}
    return {**metadata, "wholeness": summary}


def metadata_path(path: Path) -> Path:
    """The metadata beside a model file."""
    return Path(path).with_suffix(".json")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a model file, which its metadata records and loading checks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
