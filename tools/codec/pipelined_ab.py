"""Pipelined vs sequential detection: weighted PSNR of the same clip at three budgets.

The figures quoted in docs/architecture.md ("The control loop", detector.pipelined). Both
encoders decode with the composition decoder; both are scored with the current frame's
weight map (the sequential encoder's), 40 frames from ``START``.

    .venv/bin/python tools/codec/pipelined_ab.py [CLIP [START]]
"""
import sys

import cv2
import numpy as np

from semcomm_ros.bench.metrics import psnr, weighted_psnr
from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.decoder import CompositionDecoder
from semcomm_ros.codec.encoder import SemanticEncoder
from semcomm_ros.codec.weights import build_weight_map, parse_priorities
from semcomm_ros.io.frame_sources import iter_video


def main() -> None:
    """Print median weighted PSNR / PSNR per budget for both settings."""
    clip = sys.argv[1] if len(sys.argv) > 1 else "data/opencv-doc/data/vtest.avi"
    start = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    images = []
    for i, f in enumerate(iter_video(clip, start=start)):
        if i >= 40:
            break
        im = f.image
        if im.shape[1] > 640:
            im = cv2.resize(im, (640, 480), interpolation=cv2.INTER_AREA)
        images.append(im)
    for budget in (1500, 6000, 25000):
        out = {}
        for pipelined in (False, True):
            cfg = CodecConfig()
            cfg.detector.pipelined = pipelined
            enc, dec = SemanticEncoder(cfg), CompositionDecoder(CodecConfig())
            scores = []
            for k, im in enumerate(images):
                frame = enc.encode(im, byte_budget=budget, sequence=k)
                enc.feedback(k, True)
                picture = dec.decode(frame).image
                wmap, _ = build_weight_map(enc.last_detections, im.shape[0], im.shape[1],
                                           cfg.weights,
                                           parse_priorities(cfg.weights.class_priorities))
                scores.append((weighted_psnr(im, picture, wmap), psnr(im, picture)))
            out[pipelined] = np.median(np.array(scores), axis=0)
        print(f"{budget} B: sequential wPSNR/PSNR {out[False].round(2)}, "
              f"pipelined {out[True].round(2)}")


if __name__ == "__main__":
    main()
