"""Is a candidate piece one whole digit? A small verifier for the number reader's cut search.

The digit classifier reads a fragment (half a 0, a 7's bar) or two touching digits with a
confidence of 0.9-1.0: it was never shown anything but whole digits, so it cannot say "not
a digit", and the cut search (`core.numbers.choose`) could not tell a good cut from a bad
one. This verifier is trained for exactly that: pieces cut from rows of MNIST **training**
digits placed touching or overlapping, cut where the number reader would cut them
(`core.cuts.candidate_cuts`: minima of the column projection) and normalised as it
normalises them (`core.cuts.cut_piece`, `core.imaging.normalise`). A piece is *whole* when
nearly all of one digit's ink is in it and little of any other's; a *fragment* when its
best digit is far from complete or a neighbour's ink is a large share of it.

It reads the model's own feature rows (`DigitModel.features`, then the model's PCA), so a
number's pieces are described once for both; it is a one-hidden-layer perceptron on those
rows (100 -> 64 -> 1, about 6,500 numbers: a few matrix products per batch, stored in the
model's metadata, so an old model without it still loads and reads numbers as before).
Trained on log loss, its output is a probability. `mnistq train` trains `VERIFIERS` of them,
each on its own pieces, and averages them: one alone depends on its seed more than it should.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from sklearn.neural_network import MLPClassifier

from core.metadata import VERIFIER_WEIGHTS

WHOLE_SHARE = 0.85
"""A piece is whole when it holds at least this share of one digit's ink..."""
STRAY_SHARE = 0.12
"""...and its other digits' ink is at most this share of that digit's."""
FRAGMENT_SHARE, MIXED_SHARE = 0.7, 0.25
"""A piece is a fragment when its best digit's share is under `FRAGMENT_SHARE` or the
others' ink over `MIXED_SHARE` of it; pieces in between are left out of training."""
ROW_DIGITS = 3
"""Digits per generated row."""
UPSCALE = (1.5, 2.5)
"""MNIST digits are drawn this many times their size: 30-50 px tall, as the reader's are."""
PENS = ("thin", "as is", "thick")
"""Each digit's strokes made thinner, kept or thicker (by a pixel), at random: pens vary."""
GAP_RANGE = (-0.35, 0.1)
"""The gap between neighbours, in mean digit widths (negative: overlapping)."""
LIFT = 0.08
"""Each digit's baseline moves by up to this fraction of its height."""
INK_LEVEL = 0.25
"""Canvas ink at or above this coverage is in the mask (the reader's mask: half its ink
threshold)."""
Progress = Callable[[str], None]

HIDDEN = 64
"""Units of the verifier's hidden layer."""
ALPHA = 1e-3
"""Its L2 penalty."""
PIECES = 30_000
"""Training pieces per verifier (about 20% of them whole): 25 s of `mnistq train` each."""
VERIFIERS = 3
"""Verifiers trained, each on its own pieces and from its own seed; P(whole) is their mean.
One alone moves the tight numbers read by 2-4 points with its seed alone (seeds 0-2, the
same model, 200 tight numbers each of two sets); their mean is as good as the best of them
on those sets and better on two others (docs/numbers.md "This evening")."""


@dataclass(frozen=True)
class Wholeness:
    """P(whole) = logistic(w2 . relu(W1 z + b1) + b2), z the standardised PCA row."""

    mean: np.ndarray
    scale: np.ndarray
    hidden: np.ndarray
    """(d, HIDDEN)"""
    hidden_bias: np.ndarray
    out: np.ndarray
    """(HIDDEN,)"""
    out_bias: float

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """float64 (n,) P(one whole digit) of rows in the model's PCA space (n, d)."""
        z = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        h = np.maximum(z @ self.hidden + self.hidden_bias, 0.0)
        logit = h @ self.out + self.out_bias
        return 0.5 * (1.0 + np.tanh(0.5 * logit))

    def summary(self) -> dict[str, Any]:
        """What the metadata says of it (its weights are saved in the model's artifact)."""
        return {"method": "mlp", "inputs": len(self.mean), "hidden_units": len(self.out)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Wholeness:
        """The verifier of a model of format 2, whose metadata held its weights as base64
        float32."""
        if data.get("method") != "mlp":
            raise ValueError(f"unknown wholeness method {data.get('method')!r}")
        d, k = int(data["inputs"]), int(data["hidden_units"])
        shapes = {"mean": (d,), "scale": (d,), "hidden": (d, k), "hidden_bias": (k,),
                  "out": (k,)}
        arrays = {name: _unpacked(data[name], shapes[name]) for name in VERIFIER_WEIGHTS}
        return cls(**arrays, out_bias=float(data["out_bias"]))


@dataclass(frozen=True)
class Verifiers:
    """Several verifiers; P(whole) is the mean of theirs."""

    members: tuple[Wholeness, ...]

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """float64 (n,) the members' mean P(one whole digit) of rows in PCA space (n, d)."""
        return np.mean([member.probability(rows) for member in self.members], axis=0)

    def summary(self) -> dict[str, Any]:
        """What the metadata says of them: one member's shape, and how many there are."""
        return {**self.members[0].summary(), "members": len(self.members)}


def _unpacked(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f4").astype(np.float64).reshape(shape)


def fit_wholeness(rows: np.ndarray, whole: np.ndarray, seed: int = 0) -> Wholeness:
    """The verifier fitted on PCA rows of pieces and whether each is one whole digit."""
    rows = np.asarray(rows, dtype=np.float64)
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0) + 1e-6
    fit = MLPClassifier((HIDDEN,), alpha=ALPHA, max_iter=300, early_stopping=True,
                        random_state=seed).fit((rows - mean) / scale, np.asarray(whole, bool))
    (w1, w2), (b1, b2) = fit.coefs_, fit.intercepts_
    return Wholeness(mean, scale, w1, b1, w2[:, 0].copy(), float(b2[0]))


def _drawn(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit as ink coverage in [0, 1], `UPSCALE` times bigger, in a random pen,
    cropped to its ink."""
    ink = ndimage.zoom(image.astype(np.float32) / 255.0, rng.uniform(*UPSCALE), order=1)
    pen = PENS[rng.integers(len(PENS))]
    if pen == "thin":
        ink = np.clip((ink - 0.4) / 0.6, 0.0, 1.0)
    elif pen == "thick":
        ink = ndimage.grey_dilation(ink, size=(2, 2))
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    return np.clip(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], 0.0, 1.0)


def _row(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Layers (k, h, w): each digit's ink on a shared canvas, neighbours touching or
    overlapping by a random amount, baselines moved a little."""
    inks = [_drawn(image, rng) for image in images]
    height = max(ink.shape[0] for ink in inks)
    mean_width = float(np.mean([ink.shape[1] for ink in inks]))
    margin = int(np.ceil(LIFT * height)) + 2
    xs, x = [], 2
    for n, ink in enumerate(inks):
        if n:
            x += round(rng.uniform(*GAP_RANGE) * mean_width)
            x = max(x, xs[-1] + 2)
        xs.append(x)
        x += ink.shape[1]
    right = max(left + ink.shape[1] for left, ink in zip(xs, inks, strict=True))
    layers = np.zeros((len(inks), height + 2 * margin, right + 2), np.float32)
    for n, (ink, left) in enumerate(zip(inks, xs, strict=True)):
        top = margin + (height - ink.shape[0]) + round(rng.uniform(-LIFT, LIFT) * height)
        layers[n, top:top + ink.shape[0], left:left + ink.shape[1]] = ink
    return layers


def _label(crop: np.ndarray, ink: np.ndarray, owner: np.ndarray, totals: np.ndarray
           ) -> bool | None:
    """Whether a piece (its crop, and the canvas's ink and owning digit under its box) is
    one whole digit, a fragment (False), or in between (None: not trained on)."""
    inside = ink * (crop > 0)
    share = np.bincount(owner.ravel(), weights=inside.ravel(), minlength=len(totals))
    best = int(share.argmax())
    complete = share[best] / max(float(totals[best]), 1e-6)
    stray = (share.sum() - share[best]) / max(float(share[best]), 1e-6)
    if complete >= WHOLE_SHARE and stray <= STRAY_SHARE:
        return True
    if complete < FRAGMENT_SHARE or stray > MIXED_SHARE:
        return False
    return None


def training_pieces(images: np.ndarray, count: int, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """About `count` labelled pieces (uint8 (n, 28, 28), whole bool (n,)) cut from rows of
    `ROW_DIGITS` random digits of `images` as the number reader cuts a wide group."""
    # Only training cuts pieces: loading a model (core.model) needs neither module.
    from core.cuts import Group, candidate_cuts, cut_piece, typical_widths
    from core.imaging import ImageError, normalise

    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    whole: list[bool] = []
    while len(pieces) < count:
        chosen = rng.choice(len(images), ROW_DIGITS, replace=False)
        layers = _row([images[i] for i in chosen], rng)
        ink = layers.max(axis=0)
        owner = layers.argmax(axis=0)
        totals = layers.sum(axis=(1, 2))
        mask = ink >= INK_LEVEL
        group = Group(mask, slice(0, mask.shape[0]), slice(0, mask.shape[1]))
        widths = [int(np.ptp(np.flatnonzero(layer.max(axis=0) > 0.1))) + 1 for layer in layers]
        heights = [int(np.ptp(np.flatnonzero(layer.max(axis=1) > 0.1))) + 1 for layer in layers]
        # the reader's width for these digits, had they been apart (the median of
        # the same three widths, or of `TYPICAL_ASPECT` of their heights)
        typical = float(np.median(typical_widths(widths, heights)))
        # Each row is written in one pen, so it holds no lighter digit; the pale runs its
        # pens leave now and then (one row in 1,093) would change the verifiers for
        # nothing the reader meets.
        cuts, spans = candidate_cuts(ink * mask, typical, budget=40, light=False)
        # One digit alone as well, as an unsplit group shows it (a whole 5 with its bar).
        alone = layers[0] >= INK_LEVEL
        found = cut_piece(layers[0], Group(alone, group.rows, group.cols), 0, mask.shape[1],
                          2 * INK_LEVEL)
        candidates = [] if found is None else [(found, True)]
        for start, stop in spans:
            found = cut_piece(ink, group, cuts[start], cuts[stop], 2 * INK_LEVEL)
            if found is not None:
                candidates.append((found, None))
        for (crop, (x, y, w, h)), label in candidates:
            if label is None:
                label = _label(crop, ink[y:y + h, x:x + w], owner[y:y + h, x:x + w], totals)
            if label is None:
                continue
            try:
                pieces.append(normalise(crop))
            except ImageError:
                continue
            whole.append(label)
    return np.stack(pieces[:count]), np.asarray(whole[:count], dtype=bool)


def add_wholeness(model: Any, images: np.ndarray, pieces: int = PIECES, seed: int = 0,
                  progress: Progress | None = None, members: int = VERIFIERS) -> None:
    """Give `model` (a `core.model.DigitModel`) `members` verifiers, each trained on its own
    `pieces` pieces cut from rows of `images` (MNIST training digits; seeds `seed`,
    `seed` + 1...), in the model's own feature space; they are saved with the model, their
    summary in the metadata."""
    progress = progress or (lambda _message: None)
    fitted, shares = [], []
    for k in range(members):
        progress(f"wholeness verifier {k + 1} of {members}: {pieces:,} pieces cut from rows "
                 "of training digits")
        cut, whole = training_pieces(images, pieces, seed + k)
        progress(f"  {whole.mean():.0%} of them whole digits; fitting on the model's features")
        fitted.append(fit_wholeness(model.reduced(model.features(cut)), whole, seed + k))
        shares.append(float(whole.mean()))
    verifier = Verifiers(tuple(fitted))
    model.wholeness = verifier
    model.metadata["wholeness"] = {**verifier.summary(), "pieces": pieces,
                                   "whole_share": round(float(np.mean(shares)), 4),
                                   "seed": seed}
