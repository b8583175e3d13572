"""Image-quality metrics for the benchmarks: library metrics, our region masking.

PSNR and SSIM come from scikit-image; this module only restricts them to a
region (the key objects, or the background): PSNR over the region's pixels, and
the mean of scikit-image's SSIM map over the region. Weighted PSNR weighs each
pixel's squared error by the encoder's weight map:
``10 log10(255^2 / WMSE)``, ``WMSE = sum_p w(p) mean_c (x - y)^2 / sum_p w(p)``.
Phantoms are detections on a decoded picture that match no detection of the
same label on the original (IoU below a threshold).
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
    wpsnr: float = float("nan")  # weighted by the encoder's weight map (nan: no map given)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """scikit-image PSNR (8-bit range), capped at PSNR_CAP for identical inputs."""
    if reference.size == 0:
        return float("nan")
    if np.array_equal(reference, test):
        return PSNR_CAP
    return float(min(PSNR_CAP, peak_signal_noise_ratio(reference, test, data_range=255)))


def weighted_psnr(reference: np.ndarray, test: np.ndarray, weights: np.ndarray) -> float:
    """PSNR of the weight-map-weighted MSE (capped at PSNR_CAP; NaN when all weights are 0).

    ``WMSE = sum_p w(p) * mean_c (x_pc - y_pc)^2 / sum_p w(p)`` over pixels ``p``
    and colour channels ``c``; ``weights`` is HxW at the images' resolution.
    """
    w = np.asarray(weights, np.float64)
    total = w.sum()
    if total <= 0:
        return float("nan")
    diff = reference.astype(np.float32) - test.astype(np.float32)
    per_pixel = (diff * diff).mean(axis=2) if diff.ndim == 3 else diff * diff
    wmse = float((w * per_pixel).sum() / total)
    if wmse <= 0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10.0 * np.log10(255.0 ** 2 / wmse)))


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def count_phantoms(original: list, decoded: list, iou: float = 0.3) -> int:
    """Detections on a decoded picture with IoU < ``iou`` to every same-label original one.

    Both lists hold objects with ``label`` and ``box`` (x, y, width, height).
    """
    return sum(1 for det in decoded
               if not any(ref.label == det.label and box_iou(ref.box, det.box) >= iou
                          for ref in original))


def quality(reference: np.ndarray, test: np.ndarray, key_mask: np.ndarray,
            with_ssim: bool = True, weights: np.ndarray | None = None) -> Quality:
    """Full / key-object / background PSNR (colour) and SSIM (luma) of one frame.

    SSIM runs on float32 luma (same result as uint8 to ~1e-8, twice as fast);
    ``with_ssim=False`` skips it (SSIM fields are NaN). With ``weights`` (the
    encoder's HxW weight map) the weighted PSNR is filled in too.
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

    # One pass over the squared errors for every PSNR (exact: integer errors, float64 sums);
    # the same values as scikit-image's PSNR on each region, without re-slicing the images.
    diff = reference.astype(np.int16) - test.astype(np.int16)
    channels = diff.shape[2] if diff.ndim == 3 else 1
    per_pixel = (diff.astype(np.float32) ** 2).reshape(key.shape + (-1,)).sum(axis=2)

    def region_psnr(mask: np.ndarray | None) -> float:
        values = per_pixel if mask is None else per_pixel[mask]
        if values.size == 0:
            return float("nan")
        mse = float(values.sum(dtype=np.float64)) / (values.size * channels)
        return PSNR_CAP if mse == 0 else float(min(PSNR_CAP, 10 * np.log10(255.0 ** 2 / mse)))

    wpsnr = float("nan")
    if weights is not None:
        w = np.asarray(weights, np.float64)
        total = w.sum()
        if total > 0:
            wmse = float((w * per_pixel).sum() / (total * channels))
            wpsnr = PSNR_CAP if wmse == 0 else float(min(PSNR_CAP,
                                                         10 * np.log10(255.0 ** 2 / wmse)))
    return Quality(psnr=region_psnr(None), psnr_key=region_psnr(key),
                   psnr_bg=region_psnr(~key), ssim=float(ssim_map.mean()),
                   ssim_key=region_mean(key), ssim_bg=region_mean(~key), wpsnr=wpsnr)


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


def weight_and_key_mask(dets: list, height: int, width: int, cfg) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's weight map of ``dets`` and the key-object mask the metrics score.

    Key objects are those weighted at least ``cfg.weights.key_threshold`` (``cfg``: a
    CodecConfig), or the heaviest one when none is; the mask is the union of their masks.
    """
    from semcomm_ros.codec.weights import build_weight_map, parse_priorities

    wmap, weights = build_weight_map(dets, height, width, cfg.weights,
                                     parse_priorities(cfg.weights.class_priorities))
    key = [d for d, w in zip(dets, weights) if w >= cfg.weights.key_threshold]
    if not key and dets:
        key = [dets[int(np.argmax(weights))]]
    mask = np.zeros((height, width), bool)
    for det in key:
        mask |= det.full_mask(height, width)
    return wmap, mask
