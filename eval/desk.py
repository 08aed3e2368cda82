"""A page photographed lying on a desk, for both generators' `--desk`.

People photograph a note, a form or a page where it lies, and the desk shows around it. The
page each generator makes is laid on a surface that it spans `SHEET` of (each way), at its
own resolution (shrunk only to keep the photo within `MAX_SIDE`): a wood, grey, dark or
cloth desk, lit unevenly, with the camera's grain, saved as a JPEG. The page's own random
draws are untouched: `--desk` gives the same pages as the plain set, on desks drawn from a
stream of their own.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image, ImageOps

SHEET = (0.45, 0.85)
"""The page spans this fraction of the frame's width and height (its area: 0.2-0.72)."""
MAX_SIDE = 4000
"""The photo's longest side at most (a 12-megapixel phone's)."""
SURFACES = (
    (128, 92, 60),  # a brown wood
    (170, 128, 84),  # a light wood
    (92, 92, 98),  # a grey laminate
    (44, 44, 50),  # a dark desk
    (70, 88, 120),  # a blue cloth
)
"""The desks' colours (RGB)."""


def desk_stream(seed: int, kind: str, n: int) -> np.random.Generator:
    """The random draws of the `n`-th image's desk, apart from its page's."""
    return np.random.default_rng([seed, zlib.crc32(b"desk-" + kind.encode()), n])


def on_desk(data: bytes, rng: np.random.Generator) -> tuple[bytes, float, tuple[int, int]]:
    """An image file's page (upright: its EXIF orientation applied) laid on a desk: the
    JPEG's bytes, the scale of the page in it and where its top-left corner lies `(x, y)`
    (a box on the page is `scale` times as big there, shifted by that corner)."""
    page = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    span = float(rng.uniform(*SHEET))
    frame = max(page.size) / span
    scale = min(1.0, MAX_SIDE / frame)
    width, height = round(page.width / span * scale), round(page.height / span * scale)
    shrunk = page.resize((max(1, round(page.width * scale)), max(1, round(page.height * scale))),
                         Image.Resampling.LANCZOS) if scale < 1.0 else page
    colour = np.array(SURFACES[int(rng.integers(len(SURFACES)))], dtype=np.float32)
    light = np.linspace(1.0, rng.uniform(0.7, 1.1), width, dtype=np.float32)[None, :, None]
    grain = rng.normal(0.0, 5.0, (height, width, 1)).astype(np.float32)
    surface = np.clip(colour * light + grain, 0, 255).astype(np.uint8)
    x = int(rng.integers(0, width - shrunk.width + 1))
    y = int(rng.integers(0, height - shrunk.height + 1))
    photo = Image.fromarray(surface)
    photo.paste(shrunk, (x, y))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=int(rng.integers(70, 96)))
    return out.getvalue(), scale, (x, y)
