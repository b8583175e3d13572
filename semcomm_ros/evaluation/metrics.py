"""Per-frame quality for the evaluation: ``bench.metrics.quality`` with a faster SSIM.

PSNR (full, key-object, background) and weighted PSNR come from
``bench.metrics.quality``. SSIM is scikit-image's ``structural_similarity``
with its defaults (7x7 uniform window, sample covariance, K1 0.01, K2 0.03,
'reflect' borders) on float32 luma, computed with OpenCV box filters, and the
reference frame's local means and variances computed once for every codec
scored against it: the same map to ~1e-5 (test/evaluation/test_metrics.py),
about 4-8 times faster, which matters at thousands of frames.
"""
from __future__ import annotations

import cv2
import numpy as np

from semcomm_ros.bench.metrics import Quality, quality

WIN = 7
C1 = (0.01 * 255.0) ** 2
C2 = (0.03 * 255.0) ** 2
COV_NORM = WIN * WIN / (WIN * WIN - 1.0)


def _box(x: np.ndarray) -> np.ndarray:
    return cv2.boxFilter(x, cv2.CV_32F, (WIN, WIN), borderType=cv2.BORDER_REFLECT)


def luma(image: np.ndarray) -> np.ndarray:
    """BGR uint8 -> float32 luma (as ``bench.metrics.quality``)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


class Reference:
    """One original frame, its key-object mask and weight map, scored against many pictures."""

    def __init__(self, image: np.ndarray, key_mask: np.ndarray,
                 weights: np.ndarray | None = None) -> None:
        self.image = image
        self.key = key_mask.astype(bool)
        self.weights = weights
        y = luma(image)
        self.y = y
        self.ux = _box(y)
        self.vx = COV_NORM * (_box(y * y) - self.ux * self.ux)

    def ssim_map(self, test: np.ndarray) -> np.ndarray:
        """scikit-image's full SSIM map of the reference's luma against ``test``'s."""
        y = luma(test)
        uy = _box(y)
        vy = COV_NORM * (_box(y * y) - uy * uy)
        vxy = COV_NORM * (_box(self.y * y) - self.ux * uy)
        return ((2 * self.ux * uy + C1) * (2 * vxy + C2)) / \
            ((self.ux * self.ux + uy * uy + C1) * (self.vx + vy + C2))

    def score(self, test: np.ndarray) -> Quality:
        """PSNR / SSIM full, key-object and background, and weighted PSNR of ``test``."""
        q = quality(self.image, test, self.key, with_ssim=False, weights=self.weights)
        smap = self.ssim_map(test)
        q.ssim = float(smap.mean())
        q.ssim_key = float(smap[self.key].mean()) if self.key.any() else float("nan")
        q.ssim_bg = float(smap[~self.key].mean()) if (~self.key).any() else float("nan")
        return q
