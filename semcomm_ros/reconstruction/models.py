"""The embedded decoder's network: a small diffusers ``UNet2DModel`` in a pixel-shuffle latent.

Why this shape (see docs/reconstruction.md): a full-resolution pixel UNet is far too slow
on a 2-core CPU. The image is folded into ``patch x patch`` blocks with
``pixel_unshuffle`` (a free, lossless "autoencoder"): a 640x480 frame becomes an
80x60 grid of 192-channel vectors, so the UNet runs at 1/64 of the pixels while still
producing full-resolution detail through ``pixel_shuffle``.

What the UNet denoises is the *residual* ``original - composite`` (scaled to unit
variance), conditioned on the composite itself, the weight map, an objectness map
(semantic map > 0) and the keep map (where received object texture is kept as sent).
It predicts the clean residual directly (``prediction_type="sample"``), so one step
from pure noise is the regression (PSNR-oriented) estimate and more steps add detail.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DModel

log = logging.getLogger("semcomm_ros.reconstruction.models")

CHECKPOINT_FORMAT = "semcomm-embedded-decoder/1"
META_FILE = "decoder.json"
N_MAPS = 3  # weight, objectness, keep


class CheckpointError(RuntimeError):
    """An embedded-decoder checkpoint is missing, incomplete or corrupt."""


@dataclass
class DecoderSpec:
    """Hyper-parameters saved next to the weights (``decoder.json``)."""

    patch: int = 8
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    norm_num_groups: int = 16
    residual_scale: float = 8.0
    temporal: bool = False  # conditioned on the previous reconstruction too
    training: dict = field(default_factory=dict)

    @property
    def latent_channels(self) -> int:
        """Channels of one latent cell: 3 colours x patch x patch."""
        return 3 * self.patch * self.patch

    @property
    def in_channels(self) -> int:
        """UNet input: noisy latent, composite, maps (+ previous residual and its validity)."""
        return 2 * self.latent_channels + N_MAPS + \
            (self.latent_channels + 1 if self.temporal else 0)

    @property
    def multiple(self) -> int:
        """Frame sides are padded to a multiple of this."""
        return self.patch * 2 ** (len(self.block_out_channels) - 1)


def make_scheduler() -> DDIMScheduler:
    """The sampler: DDIM over a cosine schedule, trailing spacing (1 step starts at t=T)."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type="sample", clip_sample=False, set_alpha_to_one=True,
                         timestep_spacing="trailing")


class EmbeddedDecoder(torch.nn.Module):
    """UNet + the latent mapping and conditioning packing around it."""

    def __init__(self, spec: DecoderSpec, unet: UNet2DModel | None = None):
        super().__init__()
        self.spec = spec
        c = spec.latent_channels
        self.unet = unet or UNet2DModel(
            sample_size=32, in_channels=spec.in_channels, out_channels=c,
            block_out_channels=tuple(spec.block_out_channels),
            layers_per_block=spec.layers_per_block,
            down_block_types=("DownBlock2D",) * len(spec.block_out_channels),
            up_block_types=("UpBlock2D",) * len(spec.block_out_channels),
            norm_num_groups=spec.norm_num_groups, add_attention=False)

    # -- latent mapping -------------------------------------------------------------
    def to_latent(self, residual: torch.Tensor) -> torch.Tensor:
        """Residual image (B,3,H,W, [-2,2] units) -> scaled latent (B,3p^2,H/p,W/p)."""
        return F.pixel_unshuffle(residual * self.spec.residual_scale, self.spec.patch)

    def from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_latent`."""
        return F.pixel_shuffle(latent, self.spec.patch) / self.spec.residual_scale

    def condition(self, composite: torch.Tensor, maps: torch.Tensor,
                  previous: torch.Tensor | None = None,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
        """Composite (B,3,H,W) in [-1,1], maps (B,3,H,W) in [0,1] -> conditioning latent.

        A temporal model also takes the previous reconstruction (B,3,H,W in [-1,1]) and
        where it is valid (B,1,H,W in [0,1]; None = nowhere): it sees it as the residual
        ``previous - composite`` in latent units.
        """
        p = self.spec.patch
        parts = [F.pixel_unshuffle(composite, p), F.avg_pool2d(maps, p)]
        if self.spec.temporal:
            b, _, h, w = composite.shape
            if previous is None or valid is None:
                parts += [composite.new_zeros((b, self.spec.latent_channels, h // p, w // p)),
                          composite.new_zeros((b, 1, h // p, w // p))]
            else:
                parts += [self.to_latent((previous - composite) * valid),
                          F.avg_pool2d(valid, p)]
        return torch.cat(parts, dim=1)

    def with_temporal(self) -> EmbeddedDecoder:
        """A temporal copy: the new input channels start at zero weight (same output)."""
        if self.spec.temporal:
            return self
        spec = DecoderSpec(**{**asdict(self.spec), "temporal": True})
        spec.block_out_channels = tuple(spec.block_out_channels)
        new = EmbeddedDecoder(spec)
        state = self.unet.state_dict()
        w = state["conv_in.weight"]
        wide = w.new_zeros((w.shape[0], spec.in_channels, *w.shape[2:]))
        wide[:, :w.shape[1]] = w
        state["conv_in.weight"] = wide
        new.unet.load_state_dict(state)
        return new

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor | int,
                cond: torch.Tensor) -> torch.Tensor:
        """Predict the clean scaled residual latent."""
        return self.unet(torch.cat([noisy, cond], dim=1), timestep).sample

    # -- checkpoints ----------------------------------------------------------------
    def save(self, folder: str | Path, half: bool = True) -> Path:
        """Write ``folder/unet`` (diffusers, safetensors), ``scheduler/`` and ``decoder.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        unet = self.unet
        if half:
            unet = UNet2DModel.from_config(self.unet.config)
            unet.load_state_dict(self.unet.state_dict())
            unet = unet.half()
        unet.save_pretrained(folder / "unet", safe_serialization=True)
        make_scheduler().save_pretrained(folder / "scheduler")
        meta = {"format": CHECKPOINT_FORMAT, **asdict(self.spec)}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EmbeddedDecoder:
        """Load a checkpoint folder; raises :class:`CheckpointError` with the reason."""
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise CheckpointError(f"no embedded-decoder checkpoint at {folder} "
                                  f"({META_FILE} missing)")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{meta_path}: unreadable ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{meta_path}: not a {CHECKPOINT_FORMAT} checkpoint")
        meta.pop("format")
        try:
            spec = DecoderSpec(**meta)
            spec.block_out_channels = tuple(spec.block_out_channels)
        except TypeError as exc:
            raise CheckpointError(f"{meta_path}: bad fields ({exc})") from exc
        try:
            unet = UNet2DModel.from_pretrained(folder / "unet", local_files_only=True,
                                             low_cpu_mem_usage=False)
        except Exception as exc:  # diffusers/safetensors raise many kinds
            raise CheckpointError(f"{folder / 'unet'}: cannot load weights ({exc})") from exc
        if unet.config.in_channels != spec.in_channels:
            raise CheckpointError(f"{folder}: UNet channels do not match decoder.json")
        return cls(spec, unet.float())

    def num_parameters(self) -> int:
        """Number of trainable values."""
        return sum(p.numel() for p in self.parameters())
