"""Image-quality metrics for the benchmarks: library metrics, our region masking.

PSNR and SSIM come from scikit-image; this module only restricts them to a
region (the key objects, or the background): PSNR over the region's pixels, and
the mean of scikit-image's SSIM map over the region.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 60.0  # identical regions report this instead of infinity


@dataclass
class Quality:
    """PSNR (dB) and SSIM of a frame, its key-object region and its background."""

    psnr: float
    psnr_key: float
    psnr_bg: float
    ssim: float
    ssim_key: float
    ssim_bg: float


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """scikit-image PSNR (8-bit range), capped at PSNR_CAP for identical inputs."""
    if reference.size == 0:
        return float("nan")
    if np.array_equal(reference, test):
        return PSNR_CAP
    return float(min(PSNR_CAP, peak_signal_noise_ratio(reference, test, data_range=255)))


def quality(reference: np.ndarray, test: np.ndarray, key_mask: np.ndarray,
            with_ssim: bool = True) -> Quality:
    """Full / key-object / background PSNR (colour) and SSIM (luma) of one frame.

    SSIM runs on float32 luma (same result as uint8 to ~1e-8, twice as fast);
    ``with_ssim=False`` skips it (SSIM fields are NaN).
    """
    key = key_mask.astype(bool)
    if with_ssim:
        ref_y = cv2.cvtColor(reference, cv2.COLOR_BGR2GRAY).astype(np.float32)
        test_y = cv2.cvtColor(test, cv2.COLOR_BGR2GRAY).astype(np.float32)
        _, ssim_map = structural_similarity(ref_y, test_y, data_range=255.0, full=True)
    else:
        ssim_map = np.full(key.shape, np.nan, np.float32)

    def region_mean(mask: np.ndarray) -> float:
        return float(ssim_map[mask].mean()) if mask.any() else float("nan")

    return Quality(psnr=psnr(reference, test), psnr_key=psnr(reference[key], test[key]),
                   psnr_bg=psnr(reference[~key], test[~key]), ssim=float(ssim_map.mean()),
                   ssim_key=region_mean(key), ssim_bg=region_mean(~key))


def frames_to_recover(lossy: list[float], clean: list[float], lost: list[bool],
                      tolerance: float = 0.5) -> list[int]:
    """For each loss event, frames after it until quality is back within ``tolerance`` dB.

    ``lossy`` and ``clean`` are per-frame scores (e.g. key-object PSNR) of the decode
    with and without losses; ``lost[i]`` says frame i's message was dropped. A run of
    consecutive drops is one event; recovery is counted from the first frame after
    the run. An event that never recovers counts the frames until the clip's end.
    """
    events = []
    i, n = 0, len(lost)
    while i < n:
        if not lost[i]:
            i += 1
            continue
        while i < n and lost[i]:
            i += 1
        frames = 0
        j = i
        while j < n and not lost[j] and not (
                np.isnan(clean[j]) or lossy[j] >= clean[j] - tolerance):
            frames += 1
            j += 1
        events.append(frames)
    return events


def nanmedian(values: list[float]) -> float:
    """Median ignoring NaN (NaN when nothing is left)."""
    arr = np.asarray(values, float)
    arr = arr[~np.isnan(arr)]
    return float(np.median(arr)) if arr.size else float("nan")
