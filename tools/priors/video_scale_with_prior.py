"""Would the auto coder's video mode do better at half size now that the receiver has a prior?

The auto coder picks the coded size of its H.264 frames by a bit-rate rule (full size from
0.01 bit per pixel of the room, ``codec/auto.py``) and probes, judged against a decoder that
scales up bilinearly. The base station's embedded backend upsamples coded-small pictures
with waifu2x instead. This script codes TRAINING frames (vtest.avi 300-379, every 2nd,
640x480; never the held-out 600-794) once with the default scales and once with video
frames forced to half size (``VIDEO_SCALES`` shifted), and scores the composite and the
composite + prior, PSNR / SSIM medians over frames 5-39.

    .venv/bin/python tools/priors/video_scale_with_prior.py [--bpp 0.02 0.03 0.06 0.1]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

import semcomm_ros.codec.auto as auto
from semcomm_ros.bench.metrics import quality
from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
from semcomm_ros.node_config import codec_config
from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR, TRAIN_FRAMES, read_video
from semcomm_ros.reconstruction.prior import Waifu2xUpsampler, apply_prior


def training_frames(start: int = 300, count: int = 40) -> list[np.ndarray]:
    """Every 2nd vtest frame from ``start`` (5 Hz), 640x480."""
    frames = range(start, start + 2 * count)
    assert frames.stop <= TRAIN_FRAMES.stop, "held-out frames"
    return [cv2.resize(s.image, (640, 480), interpolation=cv2.INTER_AREA)
            for s in read_video(DEFAULT_DATA_DIR / "vtest.avi", frames, step=2)]


def main() -> None:
    """Print one markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.02, 0.03, 0.06, 0.1])
    a = ap.parse_args()
    frames = training_frames()
    up = Waifu2xUpsampler(3)
    default = auto.VIDEO_SCALES
    print("| bpp | video frames coded at | composite PSNR / SSIM | + prior PSNR / SSIM |")
    print("|---|---|---|---|")
    for bpp in a.bpp:
        for tag, scales in (("default rule", default), ("half size", default[1:] + (0.125,))):
            auto.VIDEO_SCALES = scales
            cfg = codec_config()
            enc, dec = SemanticEncoder(cfg), CompositionDecoder(cfg)
            rows, widths = [], []
            for j, img in enumerate(frames):
                h, w = img.shape[:2]
                d = dec.decode(enc.encode(img, byte_budget=int(bpp * h * w / 8), sequence=j))
                if j < 5:
                    continue
                none = np.zeros((h, w), bool)
                q0 = quality(img, d.image, none)
                q1 = quality(img, apply_prior(d.image, d.coarse, up), none)
                rows.append((q0.psnr, q0.ssim, q1.psnr, q1.ssim))
                widths.append(w if d.coarse is None else d.coarse.shape[1])
            m = np.median(np.array(rows), axis=0)
            print(f"| {bpp} | {tag}, median width {int(np.median(widths))} | "
                  f"{m[0]:.2f} / {m[1]:.4f} | {m[2]:.2f} / {m[3]:.4f} |", flush=True)
        auto.VIDEO_SCALES = default


if __name__ == "__main__":
    main()
