"""Rejected: a small full-resolution restoration CNN after the prior.

Trains a 66 K-parameter residual CNN (pixel-unshuffle 2, 6 x 32-channel 3x3 layers, L1
outside kept regions) for 2000 steps on a training pack made by
``semcomm train-decoder --out DIR --steps 0`` (DIR/pack.npz: the codec's composites after
the prior, never evaluation material), holding out every source whose index i has
i * 7919 % 8 == 0; prints median ΔPSNR over the composite on the held-back pairs per coder
and budget band. About 6 minutes on 2 cores.

    .venv/bin/python tools/priors/rejected/restoration_cnn.py out/train12/pack.npz
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

from semcomm_ros.reconstruction.data import load_pack
from semcomm_ros.reconstruction.pipeline import frame_tensors, keep_map, pad_to
from semcomm_ros.reconstruction.train import CropSampler

PATCH, CHANNELS, LAYERS, STEPS = 2, 32, 6, 2000


class Refiner(torch.nn.Module):
    """Composite + maps -> residual, at half resolution through pixel (un)shuffle."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Conv2d(6 * PATCH * PATCH, CHANNELS, 3, padding=1)
        self.body = torch.nn.ModuleList(torch.nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)
                                        for _ in range(LAYERS))
        self.out = torch.nn.Conv2d(CHANNELS, 3 * PATCH * PATCH, 3, padding=1)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, comp: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) composite and (B,3,H,W) maps -> (B,3,H,W) residual."""
        h = F.relu(self.inp(F.pixel_unshuffle(torch.cat([comp, maps], 1), PATCH)))
        for conv in self.body:
            h = F.relu(conv(h))
        return F.pixel_shuffle(self.out(h), PATCH)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of uint8 pictures."""
    return 10 * np.log10(255.0 ** 2 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-9))


def main() -> None:
    """Train, then print one line per coder and budget band."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    pack = sys.argv[1]
    pairs, _ = load_pack(pack)
    with np.load(pack) as z:
        src, coder, bpp = z["src_index"], z["coder"], z["bpp"]
    hold = {i for i in range(int(src.max()) + 1) if (i * 7919) % 8 == 0}
    train = [p for p, s in zip(pairs, src, strict=True) if s not in hold]
    held = [(p, str(c), float(b)) for p, s, c, b in zip(pairs, src, coder, bpp, strict=True)
            if s in hold]
    model = Refiner()
    sampler = CropSampler(train, 96, 0.35, 0.6, 0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0)
    for step in range(STEPS):
        o, k, m, _, _ = sampler.batch(16)
        for g in opt.param_groups:
            g["lr"] = 1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / STEPS)))
        w = 1 - m[:, 2:3]
        loss = ((k + model(k, m) - o).abs() * w).sum() / (w.sum() * 3 + 1e-6)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    res: dict[tuple, list] = {}
    with torch.inference_mode():
        for p, c, b in held:
            keep = keep_map(p.weight_map, p.level, 0.35, 0.6)
            comp, maps = frame_tensors(p.composite, p.weight_map, p.semantic_map, keep)
            h, w_ = p.composite.shape[:2]
            r = model(pad_to(comp, PATCH), pad_to(maps, PATCH))[..., :h, :w_]
            out = ((comp + r * (1 - maps[:, 2:3])).clamp(-1, 1) + 1) * 127.5
            out = out.round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
            band = "lo" if b < 0.04 else "mid" if b < 0.08 else "hi"
            res.setdefault((c, band), []).append(psnr(out, p.original)
                                                 - psnr(p.composite, p.original))
    for key in sorted(res):
        print(key, len(res[key]), f"median dPSNR {np.median(res[key]):+.3f}")
    every = [x for v in res.values() for x in v]
    print("all", len(every), f"median dPSNR {np.median(every):+.3f}")


if __name__ == "__main__":
    main()
