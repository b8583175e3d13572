"""Sampling with the embedded decoder: composite + maps in, reconstructed frame out.

Frames of any size: the inputs are padded (edge replication) to a multiple of
``DecoderSpec.multiple`` and the output cropped back. The UNet is fully
convolutional and sees the whole frame at once, so there are no tiles and no seams.

Regions whose object texture arrived (``keep`` = 1) are returned exactly as received:
the generated residual is multiplied by ``1 - keep`` before it is added.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

from semcomm_ros.reconstruction.models import EmbeddedDecoder, make_scheduler


def keep_map(weight_map: np.ndarray, level: int, low: float, high: float,
             objects_level: int = 2) -> np.ndarray:
    """Where received texture is kept as sent: smoothstep of the weight, 0 below OBJECTS level."""
    if level < objects_level:
        return np.zeros(weight_map.shape, np.float32)
    x = np.clip((weight_map.astype(np.float32) - low) / (high - low), 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def frame_tensors(composite: np.ndarray, weight_map: np.ndarray, semantic_map: np.ndarray,
                  keep: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Numpy HxW(x3) inputs -> composite (1,3,H,W) in [-1,1] and maps (1,3,H,W) in [0,1]."""
    comp = torch.from_numpy(np.ascontiguousarray(composite)).permute(2, 0, 1)[None].float()
    comp = comp / 127.5 - 1.0
    maps = np.stack([weight_map.astype(np.float32), (semantic_map > 0).astype(np.float32),
                     keep.astype(np.float32)])
    return comp, torch.from_numpy(maps)[None]


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the last two dims up to a multiple."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


class EmbeddedPipeline:
    """Conditional DDIM sampling of the residual, then weighted blending with the composite."""

    def __init__(self, model: EmbeddedDecoder, scheduler: DDIMScheduler | None = None,
                 device: str | torch.device = "cpu"):
        # Denormal activations make CPU convolutions ~5x slower; flushing them to zero
        # changes nothing visible (process-wide setting, harmless on CUDA).
        torch.set_flush_denormal(True)
        self.model = model.to(device).eval()
        self.scheduler = scheduler or make_scheduler()
        self.device = torch.device(device)

    @torch.inference_mode()
    def __call__(self, composite: np.ndarray, weight_map: np.ndarray,
                 semantic_map: np.ndarray, keep: np.ndarray, steps: int = 1,
                 eta: float = 0.0, noise_scale: float = 1.0, seed: int = 0,
                 previous: np.ndarray | None = None, valid: np.ndarray | None = None
                 ) -> np.ndarray:
        """Reconstruct one frame (HxWx3 uint8, channel order as given) from what arrived.

        ``previous`` (HxWx3 uint8, the last reconstruction) and ``valid`` (HxW float in
        [0, 1], where it still applies) condition a temporal model; others ignore them.
        """
        h, w = composite.shape[:2]
        comp, maps = frame_tensors(composite, weight_map, semantic_map, keep)
        comp, maps = comp.to(self.device), maps.to(self.device)
        mult = self.model.spec.multiple
        prev = val = None
        if previous is not None and valid is not None and self.model.spec.temporal:
            prev = torch.from_numpy(np.ascontiguousarray(previous)).permute(2, 0, 1)[None]
            prev = pad_to((prev.float() / 127.5 - 1.0).to(self.device), mult)
            val = pad_to(torch.from_numpy(valid.astype(np.float32))[None, None]
                         .to(self.device), mult)
        cond = self.model.condition(pad_to(comp, mult), pad_to(maps, mult), prev, val)
        generator = torch.Generator("cpu").manual_seed(int(seed))
        shape = (1, self.model.spec.latent_channels, *cond.shape[-2:])
        latents = (torch.randn(shape, generator=generator) * noise_scale).to(self.device)
        self.scheduler.set_timesteps(steps)
        for t in self.scheduler.timesteps:
            pred = self.model(latents, t.to(self.device), cond)
            noise = torch.randn(latents.shape, generator=generator).to(self.device) if eta else None
            latents = self.scheduler.step(pred, t, latents, eta=eta,
                                          variance_noise=noise).prev_sample
        residual = self.model.from_latent(latents)[..., :h, :w]
        out = comp + residual * (1.0 - maps[:, 2:3])
        out = ((out.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
        return out[0].permute(1, 2, 0).cpu().numpy()
