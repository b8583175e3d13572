"""Rejected: the realism end without sampling noise in latent cells that touch an object.

Runs any ``semcomm`` command with the embedded pipeline's sampling patched (``calm``) or
not (``base``), e.g. the recall check on the training photos (links to them in a folder):

    .venv/bin/python tools/priors/rejected/calm_objects.py calm bench decoder \
        --data-dir EMPTY_DIR --images TRAINING_PHOTOS_DIR --bpp 0.03 0.06 0.1 --no-timing
"""
from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

import semcomm_ros.reconstruction.pipeline as pipeline
from semcomm_ros.reconstruction.pipeline import frame_tensors, pad_to


@torch.inference_mode()
def calm_call(self, composite, weight_map, semantic_map, keep, steps=1, eta=0.0,
              noise_scale=1.0, seed=0, previous=None, valid=None):
    """EmbeddedPipeline.__call__ with noise zeroed in cells that touch the semantic map."""
    h, w = composite.shape[:2]
    comp, maps = frame_tensors(composite, weight_map, semantic_map, keep)
    mult = self.model.spec.multiple
    prev = val = None
    if previous is not None and valid is not None and self.model.spec.temporal:
        prev = torch.from_numpy(np.ascontiguousarray(previous)).permute(2, 0, 1)[None]
        prev = pad_to(prev.float() / 127.5 - 1.0, mult)
        val = pad_to(torch.from_numpy(valid.astype(np.float32))[None, None], mult)
    padded = pad_to(maps, mult)
    cond = self.model.condition(pad_to(comp, mult), padded, prev, val)
    calm = 1.0 - F.max_pool2d(padded[:, 1:2], self.model.spec.patch)
    gen = torch.Generator("cpu").manual_seed(int(seed))
    shape = (1, self.model.spec.latent_channels, *cond.shape[-2:])
    latents = torch.randn(shape, generator=gen) * noise_scale * calm
    self.scheduler.set_timesteps(steps)
    for t in self.scheduler.timesteps:
        pred = self.model(latents, t, cond)
        noise = torch.randn(latents.shape, generator=gen) * calm if eta else None
        latents = self.scheduler.step(pred, t, latents, eta=eta,
                                      variance_noise=noise).prev_sample
    residual = self.model.from_latent(latents)[..., :h, :w]
    out = ((comp + residual * (1.0 - maps[:, 2:3])).clamp(-1, 1) + 1.0) * 127.5
    return out.round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()


if __name__ == "__main__":
    if sys.argv[1] == "calm":
        pipeline.EmbeddedPipeline.__call__ = calm_call
    from semcomm_ros.cli import main
    sys.exit(main(sys.argv[2:]))
