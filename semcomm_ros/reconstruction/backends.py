"""Reconstruction backends behind one interface, and the factory that picks one.

``make_reconstructor(cfg)`` returns an object with ``name`` and ``reconstruct(decoded)``.
``decoded`` is the codec's ``DecodedFrame`` (or anything with ``image``,
``weight_map``, ``semantic_map``, ``level`` and ``sequence``). When the configured
backend cannot start (missing/corrupt checkpoint, no Stable Diffusion weights) the
factory logs one loud warning and returns the composition backend (``name == "none"``).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from semcomm_ros.reconstruction.config import ReconstructionConfig
from semcomm_ros.reconstruction.models import CheckpointError, EmbeddedDecoder
from semcomm_ros.reconstruction.pipeline import EmbeddedPipeline, keep_map
from semcomm_ros.reconstruction.prior import Upsampler, coarse_mask, make_upsampler

log = logging.getLogger("semcomm_ros.reconstruction.backends")


class BackendUnavailable(RuntimeError):
    """A backend cannot start here (weights or packages missing)."""


@dataclass
class Inputs:
    """Validated reconstruction inputs, all at the image's size."""

    image: np.ndarray         # HxWx3 uint8 BGR composite
    weight_map: np.ndarray    # HxW float32 [0,1]
    semantic_map: np.ndarray  # HxW uint16
    level: int
    sequence: int
    coarse: np.ndarray | None = None  # coded-size picture the composite was scaled from


def read_inputs(decoded) -> Inputs:
    """Check a DecodedFrame-like object; maps of another size are resized to the image."""
    image = getattr(decoded, "image", None)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("decoded.image must be a non-empty HxWx3 uint8 array, got "
                         f"{getattr(image, 'shape', type(image))}")
    h, w = image.shape[:2]
    weight = np.asarray(getattr(decoded, "weight_map", np.zeros((0, 0))), np.float32)
    if weight.ndim != 2:
        raise ValueError(f"decoded.weight_map must be 2-D, got shape {weight.shape}")
    if weight.size == 0:
        weight = np.zeros((h, w), np.float32)
    elif weight.shape != (h, w):
        weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
    if not np.isfinite(weight).all():
        raise ValueError("decoded.weight_map contains NaN or infinity")
    sem = np.asarray(getattr(decoded, "semantic_map", np.zeros((0, 0))))
    if sem.ndim != 2:
        raise ValueError(f"decoded.semantic_map must be 2-D, got shape {sem.shape}")
    sem = np.zeros((h, w), np.uint16) if sem.size == 0 else sem.astype(np.uint16)
    if sem.shape != (h, w):
        sem = cv2.resize(sem, (w, h), interpolation=cv2.INTER_NEAREST)
    coarse = getattr(decoded, "coarse", None)
    if not isinstance(coarse, np.ndarray) or coarse.ndim != 3 or coarse.shape[2] != 3 \
            or coarse.dtype != np.uint8 or coarse.shape[0] > h or coarse.shape[1] > w \
            or min(coarse.shape[:2]) < 2:
        coarse = None
    return Inputs(image, np.clip(weight, 0.0, 1.0), sem, int(getattr(decoded, "level", 0)),
                  int(getattr(decoded, "sequence", 0)), coarse)


#: fields of ReconstructionConfig a running backend takes over in place
LIVE_FIELDS = ("realism", "seed", "keep_low", "keep_high", "temporal")


class Reconstructor(ABC):
    """Turns what arrived into the picture shown to the operator."""

    name: str = ""
    cfg: ReconstructionConfig | None = None

    @abstractmethod
    def reconstruct(self, decoded) -> np.ndarray:
        """DecodedFrame -> HxWx3 uint8 BGR image of the same size."""

    def update_config(self, cfg: ReconstructionConfig) -> bool:
        """Take over a new configuration in place when only live fields changed.

        Returns False when something else changed (the caller builds a new backend).
        """
        cfg.validate()
        if self.cfg is None:
            return False
        old = replace(self.cfg, **{k: getattr(cfg, k) for k in LIVE_FIELDS})
        if old != cfg:
            return False
        self.cfg = cfg
        return True


class CompositionReconstructor(Reconstructor):
    """Backend ``none``: the codec's composition, unchanged."""

    name = "none"

    def __init__(self, reason: str = ""):
        self.fallback_reason = reason

    def reconstruct(self, decoded) -> np.ndarray:
        """The composite as received (a copy)."""
        return read_inputs(decoded).image.copy()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when present; ``cuda`` without CUDA -> cpu with a warning."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        log.warning("reconstruction.device=cuda but CUDA is not available: using the CPU")
        return torch.device("cpu")
    return torch.device("cuda")


class EmbeddedReconstructor(Reconstructor):
    """Backend ``embedded``: prior upsampling of the coarse picture, then the diffusion model.

    1. The coarse picture the codec sent (``decoded.coarse``) is upsampled by the
       pretrained prior (``cfg.prior``) and replaces the codec's bilinear upscale in the
       composite (pasted objects stay as received); cached while the coarse picture
       does not change.
    2. The small conditional diffusion model refines that, at the knob's setting; on the
       pixels the prior replaced, the knob blends from the prior's picture (fidelity end:
       the network measured no better there) to the generated one (realism end).
    3. Temporal (``cfg.temporal``): a temporal checkpoint is conditioned on the previous
       frame's refined composite (as in its training pairs; feeding back its own output
       cost 0.07 dB and 0.003 SSIM on training frames), and pixels that did not change
       at all keep the previous reconstruction (no flicker; a frame that changed nowhere
       skips the network).
    """

    name = "embedded"

    def __init__(self, cfg: ReconstructionConfig, model: EmbeddedDecoder | None = None,
                 upsampler: Upsampler | None = None):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        model = model or EmbeddedDecoder.load(cfg.checkpoint_path())
        device = resolve_device(cfg.device)
        self.pipeline = EmbeddedPipeline(model, device=device)
        self.upsampler = upsampler or make_upsampler(cfg.prior, cfg.prior_noise, 1,
                                                     cfg.threads, cfg.prior_dir, device,
                                                     cfg.prior_precision)
        self._prior_cache: tuple[np.ndarray, tuple, np.ndarray] | None = None
        # previous frame: sequence, composite, reconstruction, (unused), and the composite
        # the network saw (the temporal input: what training pairs store)
        self._prev: tuple | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new stream)."""
        self._prev = None
        self._prior_cache = None

    def prior_composite(self, x: Inputs) -> tuple[np.ndarray, np.ndarray | None]:
        """(composite with the coarse picture upsampled by the prior, where it replaced pixels).

        The upsampled picture is cached while the coarse picture does not change; the
        mask is None where the prior did nothing.
        """
        if x.coarse is None or type(self.upsampler) is Upsampler \
                or (x.coarse.shape[0] >= x.image.shape[0]
                    and x.coarse.shape[1] >= x.image.shape[1]):
            return x.image, None
        c = self._prior_cache
        if c is not None and c[1] == x.image.shape and np.array_equal(c[0], x.coarse):
            up = c[2]
        else:
            h, w = x.image.shape[:2]
            up = self.upsampler(x.coarse, w, h)
            self._prior_cache = (x.coarse.copy(), x.image.shape, up)
        mask = coarse_mask(x.image, x.coarse)
        return np.where(mask[..., None], up, x.image), mask

    def reconstruct(self, decoded) -> np.ndarray:
        """Prior, then one sampling run (seed = cfg.seed + frame sequence), blended.

        Temporal: the network (a temporal checkpoint) also sees the previous frame's
        refined composite; pixels whose composite did not change at all keep the previous
        reconstruction (no flicker at the realism end; a frame that changed nowhere skips
        the network). Carrying the prior's detail of the previous frame into static parts
        was tried and removed: on training frames it cost 0.003 SSIM at 0.1 bpp (the auto
        coder's P-frames refine the background themselves, the carried detail overshoots).
        """
        x = read_inputs(decoded)
        comp, fresh = self.prior_composite(x)
        keep = keep_map(x.weight_map, x.level, self.cfg.keep_low, self.cfg.keep_high)
        prev = self._prev if self.cfg.temporal else None
        if prev is not None and (prev[1].shape != comp.shape or x.sequence <= prev[0]):
            prev = None
        same = None
        if prev is not None:
            same = (prev[1] == x.image).all(axis=2) & (keep < 1.0)
            if fresh is not None:
                same &= ~fresh
        # Where the prior replaced pixels, the network adds nothing at the fidelity end
        # (78 training photos: -0.04..+0.01 dB, -0.001..-0.003 SSIM; docs/benchmarks/
        # decoder.md): there the knob blends from the prior's picture (realism 0) to the
        # generated one (realism 1).
        w = float(self.cfg.realism)
        prior_only = fresh if fresh is not None and w < 1.0 else None
        done = keep >= 1.0
        if same is not None:
            done = done | same
        if prior_only is not None and w == 0.0:
            done = done | prior_only
        if done.all():  # nothing left for the network
            out = comp if same is None else np.where(same[..., None], prev[2], comp)
        else:
            out = self.pipeline(comp, x.weight_map, x.semantic_map, keep,
                                seed=self.cfg.seed + x.sequence, **self.cfg.sampling(),
                                previous=None if prev is None else prev[4],
                                valid=None if prev is None
                                else np.ones(keep.shape, np.float32))
            if prior_only is not None:
                blend = comp if w == 0.0 else (comp.astype(np.float32) * (1.0 - w)
                                               + out.astype(np.float32) * w + 0.5
                                               ).astype(np.uint8)
                out = np.where(prior_only[..., None], blend, out)
            if same is not None:
                out = np.where(same[..., None], prev[2], out)
        if self.cfg.temporal:
            self._prev = (x.sequence, x.image, out, None, comp)
        return out


def _fallback(cfg: ReconstructionConfig, reason: str) -> CompositionReconstructor:
    log.warning("!!! reconstruction backend %r unavailable: %s -- FALLING BACK TO "
                "COMPOSITION ONLY (backend 'none'); see docs/reconstruction.md",
                cfg.backend, reason)
    return CompositionReconstructor(reason)


def make_reconstructor(cfg: ReconstructionConfig | None = None) -> Reconstructor:
    """The configured backend, or composition with a loud warning when it cannot start."""
    cfg = cfg or ReconstructionConfig()
    cfg.validate()
    if cfg.backend == "none":
        return CompositionReconstructor()
    if cfg.backend == "embedded":
        try:
            return EmbeddedReconstructor(cfg)
        except CheckpointError as exc:
            return _fallback(cfg, str(exc))
    from semcomm_ros.reconstruction.sd import SDReconstructor  # heavy, only when asked
    try:
        return SDReconstructor(cfg)
    except BackendUnavailable as exc:
        return _fallback(cfg, str(exc))
