"""The evaluation's SSIM is scikit-image's, region by region; PSNRs are bench.metrics'."""
import cv2
import numpy as np

from semcomm_ros.bench.metrics import quality
from semcomm_ros.evaluation.metrics import Reference


def test_reference_scores_equal_bench_metrics():
    rng = np.random.default_rng(3)
    ref = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (5, 5), 2)
    key = np.zeros((120, 160), bool)
    key[30:80, 40:100] = True
    weights = np.where(key, 1.0, 0.2).astype(np.float32)
    r = Reference(ref, key, weights)
    for test in (np.clip(ref.astype(int) + rng.normal(0, 12, ref.shape), 0, 255).astype(np.uint8),
                 cv2.GaussianBlur(ref, (9, 9), 3), np.full_like(ref, 128)):
        want = quality(ref, test, key, True, weights=weights)
        got = r.score(test)
        for name in ("psnr", "psnr_key", "psnr_bg", "wpsnr"):
            assert getattr(got, name) == getattr(want, name)
        for name in ("ssim", "ssim_key", "ssim_bg"):
            assert abs(getattr(got, name) - getattr(want, name)) < 1e-4, name
    assert r.score(ref).ssim > 0.9999
