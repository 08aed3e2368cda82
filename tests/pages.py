"""Drawn pages for the capture and number tests: notebook paper, and a phone's photo of a page."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tests.support import encode

PAPER = (238, 236, 226)
BLUE_LINE, RED_LINE, BALLPOINT = (150, 180, 235), (225, 110, 120), (25, 40, 130)
RULE_SPACING = 24


def ruled_page(width: int = 400, height: int = 300, margin: bool = True) -> Image.Image:
    """Notebook paper: blue ruled lines and a red margin line."""
    page = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(page)
    for y in range(12, height, RULE_SPACING):
        draw.line([(0, y), (width, y)], fill=BLUE_LINE, width=2)
    if margin:
        draw.line([(50, 0), (50, height)], fill=RED_LINE, width=2)
    return page


def photographed(page: Image.Image, turned: float = 0.0, seed: int = 1) -> bytes:
    """`page` as a phone saves it: turned by `turned` degrees, softened by the lens, with the
    sensor's noise, as a JPEG."""
    if turned:
        page = page.rotate(turned, Image.Resampling.BILINEAR, fillcolor=PAPER)
    soft = np.asarray(page.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32)
    noisy = soft + np.random.default_rng(seed).normal(0, 4, soft.shape)
    return encode(np.clip(noisy, 0, 255).astype(np.uint8), "JPEG", quality=80)
