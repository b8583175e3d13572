"""Rejected: waifu2x on a half-size copy of the full-size decoded H.264 frame.

Training frames vtest.avi 300-339 (every 2nd), the auto coder at 0.03 and 0.1 bpp; the
decoded frame is halved (INTER_AREA) and upsampled again by waifu2x (noise 1 and 3).
Prints median ΔPSNR / ΔSSIM against the decoded frame over frames 4-19.

    .venv/bin/python tools/priors/rejected/down_up_prior.py
"""
from __future__ import annotations

import cv2
import numpy as np

from semcomm_ros.bench.metrics import quality
from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
from semcomm_ros.node_config import codec_config
from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR, read_video
from semcomm_ros.reconstruction.prior import Waifu2xUpsampler


def main() -> None:
    """Print one line per budget and denoise level."""
    ups = {n: Waifu2xUpsampler(n) for n in (1, 3)}
    frames = [s.image for s in read_video(DEFAULT_DATA_DIR / "vtest.avi", range(300, 340),
                                          step=2)]
    for bpp in (0.03, 0.1):
        cfg = codec_config()
        enc, dec = SemanticEncoder(cfg), CompositionDecoder(cfg)
        res: dict[int, list] = {}
        for j, img in enumerate(frames):
            h, w = img.shape[:2]
            d = dec.decode(enc.encode(img, byte_budget=int(bpp * h * w / 8), sequence=j))
            if j < 4:
                continue
            half = cv2.resize(d.image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            none = np.zeros((h, w), bool)
            q0 = quality(img, d.image, none)
            for n, up in ups.items():
                q = quality(img, up(half, w, h), none)
                res.setdefault(n, []).append((q.psnr - q0.psnr, q.ssim - q0.ssim))
        for n, v in res.items():
            m = np.median(np.array(v), axis=0)
            print(f"bpp {bpp} down-up waifu2x noise{n}: dPSNR {m[0]:+.3f} dSSIM {m[1]:+.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
