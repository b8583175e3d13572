"""Rejected: low-passing the embedded network's residual (against 8x8 patch seams).

Training frames vtest.avi 300-359 (every 2nd), the auto coder at 0.03 and 0.1 bpp, the
shipped embedded backend at the fidelity end with its residual blurred by a Gaussian of
``sigma`` before it is added. Prints median ΔPSNR / ΔSSIM over composition.

    .venv/bin/python tools/priors/rejected/residual_lowpass.py
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import semcomm_ros.reconstruction.pipeline as pipeline
from semcomm_ros.bench.metrics import quality
from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
from semcomm_ros.node_config import codec_config
from semcomm_ros.reconstruction import ReconstructionConfig
from semcomm_ros.reconstruction.backends import EmbeddedReconstructor
from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR, read_video

SIGMA = {"value": 0.0}
_from_latent = pipeline.EmbeddedDecoder.from_latent


def blurred_from_latent(self, latent: torch.Tensor) -> torch.Tensor:
    """The decoder's residual, separably Gaussian-blurred by SIGMA."""
    r = _from_latent(self, latent)
    s = SIGMA["value"]
    if s <= 0:
        return r
    k = int(2 * round(3 * s) + 1)
    x = torch.arange(k, dtype=r.dtype) - k // 2
    g = torch.exp(-x ** 2 / (2 * s * s))
    g = g / g.sum()
    r = F.conv2d(F.pad(r, (k // 2,) * 4, mode="replicate"), g.view(1, 1, 1, k).repeat(3, 1, 1, 1),
                 groups=3)
    return F.conv2d(r, g.view(1, 1, k, 1).repeat(3, 1, 1, 1), groups=3)


def main() -> None:
    """Print one line per budget and sigma."""
    torch.set_num_threads(2)
    pipeline.EmbeddedDecoder.from_latent = blurred_from_latent
    frames = [s.image for s in read_video(DEFAULT_DATA_DIR / "vtest.avi", range(300, 360),
                                          step=2)]
    for bpp in (0.03, 0.1):
        cfg = codec_config()
        enc, dec = SemanticEncoder(cfg), CompositionDecoder(cfg)
        decs = []
        for j, img in enumerate(frames):
            h, w = img.shape[:2]
            decs.append(dec.decode(enc.encode(img, byte_budget=int(bpp * h * w / 8),
                                              sequence=j)))
        rec = EmbeddedReconstructor(ReconstructionConfig())
        for sigma in (0.0, 0.8, 1.5, 3.0):
            SIGMA["value"] = sigma
            rec.reset()
            res = []
            for img, d in zip(frames, decs, strict=True):
                out = rec.reconstruct(d)
                key = d.weight_map >= 0.6
                q0, q = quality(img, d.image, key), quality(img, out, key)
                res.append((q.psnr - q0.psnr, q.ssim - q0.ssim))
            m = np.median(np.array(res), axis=0)
            print(f"bpp {bpp} sigma {sigma}: dPSNR {m[0]:+.3f} dSSIM {m[1]:+.4f}", flush=True)


if __name__ == "__main__":
    main()
