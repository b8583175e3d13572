"""Rejected: a decoder-side recursive temporal filter on static pixels.

Training frames vtest.avi 300-379 (every 2nd), the auto coder at 0.03 / 0.06 / 0.1 bpp;
where the 5x5-blurred decoded picture moved less than ``tau`` from the running average,
the average takes ``alpha`` of the new frame. Prints median ΔPSNR / ΔSSIM over frames 5-39.

    .venv/bin/python tools/priors/rejected/temporal_filter.py
"""
from __future__ import annotations

import cv2
import numpy as np

from semcomm_ros.bench.metrics import quality
from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
from semcomm_ros.node_config import codec_config
from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR, read_video


def main() -> None:
    """Print one line per setting."""
    frames = [s.image for s in read_video(DEFAULT_DATA_DIR / "vtest.avi", range(300, 380),
                                          step=2)]
    for bpp in (0.03, 0.06, 0.1):
        cfg = codec_config()
        enc, dec = SemanticEncoder(cfg), CompositionDecoder(cfg)
        decs = []
        for j, img in enumerate(frames):
            h, w = img.shape[:2]
            d = dec.decode(enc.encode(img, byte_budget=int(bpp * h * w / 8), sequence=j))
            decs.append(d.image.copy())
        for tau in (4, 8, 12):
            for alpha in (0.5, 0.3):
                acc, res = None, []
                for j, (img, dd) in enumerate(zip(frames, decs, strict=True)):
                    x = dd.astype(np.float32)
                    if acc is None:
                        acc = x
                    else:
                        diff = np.abs(cv2.blur(x, (5, 5)) - cv2.blur(acc, (5, 5)))
                        still = diff.max(axis=2, keepdims=True) < tau
                        acc = np.where(still, (1 - alpha) * acc + alpha * x, x)
                    if j >= 5:
                        none = np.zeros(img.shape[:2], bool)
                        q0 = quality(img, dd, none)
                        q1 = quality(img, np.clip(acc + 0.5, 0, 255).astype(np.uint8), none)
                        res.append((q1.psnr - q0.psnr, q1.ssim - q0.ssim))
                m = np.median(np.array(res), axis=0)
                print(f"bpp {bpp} tau {tau} alpha {alpha}: dPSNR {m[0]:+.3f} "
                      f"dSSIM {m[1]:+.4f}", flush=True)


if __name__ == "__main__":
    main()
