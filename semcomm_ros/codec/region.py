"""The region coder's building blocks: fit an image into a byte budget, and the background.

Objects and background are coded apart with a still-image codec. Each layer
is fitted to its share of the budget by a binary search over codec quality
(and, for the background, over a ladder of resolutions). The background is
reused across frames: :class:`BackgroundState` remembers what the decoder
should hold and says when it must be refreshed (age, scene change) or can be
upgraded with spare bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from semcomm_ros.codec import imagecodec

LAYER_OVERHEAD = 12  # codec id, quality, width, height and length varints of one layer


@dataclass
class CodedImage:
    """One layer's codec bytes, with the size and quality it was coded at."""

    data: bytes
    codec: str
    quality: int
    width: int
    height: int

    @property
    def cost(self) -> int:
        """Wire bytes of this layer, overhead included."""
        return len(self.data) + LAYER_OVERHEAD


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging when shrinking, bilinear when enlarging."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def fit_quality(image: np.ndarray, codec: str, max_bytes: int, q_min: int, q_max: int,
                max_tries: int = 4, overhead: int = LAYER_OVERHEAD,
                start: int | None = None) -> CodedImage | None:
    """Highest quality in [q_min, q_max] found to fit ``max_bytes`` (overhead included).

    A secant search on log(size) over quality, at most ``max_tries`` encodes, from
    ``start`` (default ``q_max``; a warm start: the last frame's answer): the answer
    may be a few quality steps below the true optimum, never over budget.
    """
    if max_bytes <= overhead or q_min > q_max:
        return None
    target = math.log(max_bytes - overhead)
    best: tuple[int, bytes] | None = None
    fail = q_max + 1          # lowest quality seen to overshoot
    points: list[tuple[int, float]] = []
    quality = q_max if start is None else min(max(q_min, start), q_max)
    for _ in range(max_tries):
        data = imagecodec.encode(image, codec, quality)
        size = len(data) + overhead
        points.append((quality, math.log(len(data))))
        if size <= max_bytes:
            best = (quality, data)
        else:
            fail = min(fail, quality)
        low = best[0] + 1 if best else q_min
        if low >= fail or (best and best[0] == q_max) or (not best and quality == q_min):
            break
        slope = 0.025
        if len(points) >= 2:
            (qa, la), (qb, lb) = sorted(points[-2:])
            if qb > qa and lb > la:
                slope = (lb - la) / (qb - qa)
        guess = quality + (target - 0.03 - points[-1][1]) / slope
        quality = int(min(max(math.floor(guess), low), fail - 1))
    if best is None:
        return None
    return CodedImage(best[1], codec, best[0], image.shape[1], image.shape[0])


def fit_scaled(image: np.ndarray, codec: str, max_bytes: int, scales: list[float],
               q_min: int, q_max: int, q_good: int) -> CodedImage | None:
    """Largest scale in ``scales`` that fits at quality >= ``q_good`` (else the best found).

    One probe at the largest scale and ``q_good`` predicts (size ~ pixels) the
    scale to use; then :func:`fit_quality` picks the quality there.
    """
    height, width = image.shape[:2]
    scales = sorted(scales, reverse=True)
    q_good = min(max(q_good, q_min), q_max)

    def at(scale: float) -> np.ndarray:
        return resize_to(image, max(8, round(width * scale)), max(8, round(height * scale)))

    probe = imagecodec.encode(at(scales[0]), codec, q_good)
    start = 0
    if len(probe) + LAYER_OVERHEAD > max_bytes:
        guess = scales[0] * math.sqrt(max_bytes / (len(probe) + LAYER_OVERHEAD))
        start = next((i for i, s in enumerate(scales) if s <= guess * 1.05), len(scales) - 1)
    fallback = None
    for scale in scales[start:]:
        coded = fit_quality(at(scale), codec, max_bytes, q_min, q_max)
        if coded is not None and coded.quality >= q_good:
            return coded
        fallback = fallback or coded
    return fallback


def scale_ladder(largest: float, smallest: float) -> list[float]:
    """Scales from ``largest`` down to ``smallest`` in steps of about 1/sqrt(2)."""
    scales, scale = [], largest
    while scale >= smallest * 0.999:
        scales.append(scale)
        scale /= 1.41421356
    return scales or [largest]


def small_grey(image: np.ndarray, width: int = 48) -> np.ndarray:
    """Tiny float grey copy used to measure scene change."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    height = max(1, round(gray.shape[0] * width / gray.shape[1]))
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


class BackgroundState:
    """What background the decoder holds (if every frame arrives), and when to resend it."""

    def __init__(self) -> None:
        """Start with no background at the decoder."""
        self.reset()

    def reset(self) -> None:
        """Forget the background: the next frame sends one."""
        self.reference: np.ndarray | None = None  # tiny grey of what the decoder shows
        self.age = 0
        self.score = 0.0  # quality proxy of the held background: pixels x quality
        self.cost = 0  # its bytes

    def change(self, image: np.ndarray, low_weight: np.ndarray) -> float:
        """Scene change against the held background, over low-weight pixels (0-255 scale)."""
        if self.reference is None:
            return float("inf")
        now = small_grey(image)
        if now.shape != self.reference.shape:
            return float("inf")
        keep = cv2.resize(low_weight.astype(np.float32), (now.shape[1], now.shape[0]),
                          interpolation=cv2.INTER_AREA) > 0.5
        if not keep.any():
            return 0.0
        diff = np.abs(now - self.reference)[keep]
        # Mean change, or a local change (a moved object's ghost) that covers > 2 % of cells.
        return float(max(diff.mean(), np.percentile(diff, 98) / 3.0))

    def needs_refresh(self, image: np.ndarray, low_weight: np.ndarray, max_age: int,
                      threshold: float) -> bool:
        """True when the decoder has no background, it is too old, or the scene changed."""
        return (self.reference is None or self.age >= max_age
                or self.change(image, low_weight) > threshold)

    def sent(self, coded: CodedImage, shown: np.ndarray) -> None:
        """Record a background the encoder just sent (``shown``: its decoded upscaled image)."""
        self.reference = small_grey(shown)
        self.age = 0
        self.score = coded.width * coded.height * coded.quality
        self.cost = coded.cost

    def tick(self) -> None:
        """One more frame without a background."""
        self.age += 1
