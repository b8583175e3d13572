"""Validation on training material: vtest.avi frames 300-359 (never the held-out 600-794).

Composition vs prior only vs the embedded backend with and without temporal carry, per
budget, PSNR / SSIM medians over every frame. Used to check the temporal design and
checkpoints without touching the evaluation data.

    .venv/bin/python tools/priors/validate_decoder.py [--checkpoint DIR] [--start 300 --n 60]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from semcomm_ros.bench.metrics import quality
from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
from semcomm_ros.node_config import codec_config
from semcomm_ros.reconstruction import ReconstructionConfig
from semcomm_ros.reconstruction.backends import EmbeddedReconstructor
from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR, TRAIN_FRAMES
from semcomm_ros.reconstruction.prior import apply_prior, make_upsampler


def main() -> None:
    """Print one markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default="")
    ap.add_argument("--video", default=str(DEFAULT_DATA_DIR / "vtest.avi"))
    ap.add_argument("--start", type=int, default=300)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.03, 0.06, 0.1])
    ap.add_argument("--coder", default="")
    a = ap.parse_args()
    torch.set_num_threads(1)
    assert "vtest" not in a.video or a.start + a.n <= TRAIN_FRAMES.stop, "held-out frames"
    cap = cv2.VideoCapture(a.video)
    frames, i = [], 0
    while len(frames) < a.n:
        ok, img = cap.read()
        if not ok:
            break
        if i >= a.start:
            frames.append(img)
        i += 1
    up = make_upsampler("waifu2x", threads=1)
    base = ReconstructionConfig(checkpoint=a.checkpoint)
    methods = {"fidelity, no temporal": EmbeddedReconstructor(
                   ReconstructionConfig(checkpoint=a.checkpoint, temporal=False), upsampler=up),
               "fidelity, temporal": EmbeddedReconstructor(base, upsampler=up)}
    print("| bpp | composition | prior | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for bpp in a.bpp:
        cfg = codec_config()
        if a.coder:
            cfg.texture.coder = a.coder
        enc, dec = SemanticEncoder(cfg), CompositionDecoder(cfg)
        for m in methods.values():
            m.reset()
        res: dict[str, list] = {}
        for j, img in enumerate(frames):
            h, w = img.shape[:2]
            d = dec.decode(enc.encode(img, byte_budget=int(bpp * h * w / 8), sequence=j))
            outs = {"composition": d.image, "prior": apply_prior(d.image, d.coarse, up)}
            outs.update({k: m.reconstruct(d) for k, m in methods.items()})
            key = d.weight_map >= 0.6
            for k, o in outs.items():
                q = quality(img, o, key)
                res.setdefault(k, []).append((q.psnr, q.ssim))
        med = {k: np.median(np.array(v), axis=0) for k, v in res.items()}
        c = med["composition"]
        print(f"| {bpp} | {c[0]:.2f} / {c[1]:.4f} | " + " | ".join(
            f"{v[0] - c[0]:+.2f} / {v[1] - c[1]:+.4f}" for k, v in med.items()
            if k != "composition") + " |", flush=True)


if __name__ == "__main__":
    main()
