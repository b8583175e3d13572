"""Backend ``sd``: Stable-Diffusion-class reconstruction from diffusers parts.

For GPU base stations that have the weights (a diffusers model folder or a cached
model id). The loop is SDEdit-style img2img (start from the composite, noised to
``reconstruction.realism`` x ``sd.strength``: the knob is live here too, and at realism 0
the composite is shown as received) or, in ``inpaint`` mode, blended latent diffusion: at
every step the latents of regions that arrived with high weight are reset to the
(re-noised) received ones, so only low-weight regions are regenerated; any SD checkpoint
works, no special inpainting UNet is needed. An optional ControlNet sees the semantic map
as a colour segmentation image. The final image is blended with the composite through the
keep map, as in the embedded backend, so key objects stay exactly as received.

Built from parts (``AutoencoderKL``, ``UNet2DConditionModel``, ``ControlNetModel``,
``DDIMScheduler``) rather than the ``StableDiffusion*Pipeline`` classes because those
need ``transformers`` at import and do not take a per-pixel keep map; the text encoder
is loaded through ``transformers`` when it is installed, else only the empty prompt's
embedding can be used and the backend refuses to start.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from semcomm_ros.reconstruction.backends import (
    BackendUnavailable,
    Reconstructor,
    read_inputs,
    resolve_device,
)
from semcomm_ros.reconstruction.config import ReconstructionConfig
from semcomm_ros.reconstruction.pipeline import keep_map, pad_to

log = logging.getLogger("semcomm_ros.reconstruction.sd")


@dataclass
class SDComponents:
    """The parts of an SD pipeline; ``encode_prompt`` maps text to embeddings."""

    vae: torch.nn.Module
    unet: torch.nn.Module
    scheduler: object
    encode_prompt: object            # callable: list[str] -> (B, L, D) tensor
    controlnet: torch.nn.Module | None = None


def segmentation_image(semantic_map: np.ndarray) -> np.ndarray:
    """Class ids -> a fixed colour per class (HxWx3 float in [0,1]); background black."""
    rng = np.random.default_rng(1234)
    palette = np.concatenate([np.zeros((1, 3)), rng.uniform(0.2, 1.0, (65535, 3))])
    return palette[semantic_map.astype(np.int64)].astype(np.float32)


def load_components(cfg: ReconstructionConfig, device: torch.device) -> SDComponents:
    """Load the SD parts named by ``cfg.sd``; :class:`BackendUnavailable` with the reason."""
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    s = cfg.sd
    dtype = torch.float16 if (s.fp16 and device.type == "cuda") else torch.float32
    kw = {"local_files_only": not s.allow_download, "torch_dtype": dtype}
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as exc:
        raise BackendUnavailable("the sd backend needs the 'transformers' package for its "
                                 "text encoder") from exc
    try:
        vae = AutoencoderKL.from_pretrained(s.model, subfolder="vae", **kw)
        unet = UNet2DConditionModel.from_pretrained(s.model, subfolder="unet", **kw)
        scheduler = DDIMScheduler.from_pretrained(s.model, subfolder="scheduler",
                                                  local_files_only=not s.allow_download)
        tok = CLIPTokenizer.from_pretrained(s.model, subfolder="tokenizer",
                                            local_files_only=not s.allow_download)
        te = CLIPTextModel.from_pretrained(s.model, subfolder="text_encoder", **kw)
        cn = ControlNetModel.from_pretrained(s.controlnet_model, **kw) if s.controlnet else None
    except Exception as exc:  # noqa: BLE001 - missing files, no network, bad folder
        raise BackendUnavailable(f"cannot load Stable Diffusion weights {s.model!r}"
                                 f"{' / ' + s.controlnet_model if s.controlnet else ''} "
                                 f"(offline? set sd.allow_download or a local folder): "
                                 f"{exc}") from exc
    te = te.to(device)

    @torch.no_grad()
    def encode(texts: list[str]) -> torch.Tensor:
        ids = tok(texts, padding="max_length", max_length=tok.model_max_length,
                  truncation=True, return_tensors="pt").input_ids.to(device)
        return te(ids)[0]

    return SDComponents(vae, unet, scheduler, encode, cn)


class SDReconstructor(Reconstructor):
    """Img2img / inpainting reconstruction with SD parts (and optional ControlNet)."""

    name = "sd"

    def __init__(self, cfg: ReconstructionConfig, components: SDComponents | None = None):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.parts = components or load_components(cfg, self.device)
        for m in (self.parts.vae, self.parts.unet, self.parts.controlnet):
            if m is not None:
                m.to(self.device).eval()
        self.dtype = next(self.parts.unet.parameters()).dtype
        if cfg.realism == 0.0:
            log.warning("backend 'sd' at reconstruction.realism 0 shows the composite as "
                        "received (strength = realism x sd.strength): set realism > 0 to "
                        "run Stable Diffusion")

    def prompt(self, decoded) -> str:
        """The configured prompt plus the labels of the objects that arrived."""
        labels = sorted({getattr(o, "label", "") for o in getattr(decoded, "objects", [])} - {""})
        return ", ".join([self.cfg.sd.prompt, *labels])

    @torch.inference_mode()
    def reconstruct(self, decoded) -> np.ndarray:
        """Img2img/inpaint from the composite, then blend kept regions back exactly."""
        s, p = self.cfg.sd, self.parts
        x = read_inputs(decoded)
        strength = s.strength * self.cfg.realism  # the one knob: sd.strength at realism 1
        if strength <= 0.0:
            return x.image.copy()  # fidelity end: SD has no regression estimate, show what came
        h, w = x.image.shape[:2]
        keep = keep_map(x.weight_map, x.level, self.cfg.keep_low, self.cfg.keep_high)
        dev, dt = self.device, self.dtype
        rgb = torch.from_numpy(np.ascontiguousarray(x.image[..., ::-1])).permute(2, 0, 1)[None]
        img = pad_to(rgb.float().to(dev) / 127.5 - 1.0, 64)
        keep_t = pad_to(torch.from_numpy(keep)[None, None].to(dev), 64)
        sf = getattr(p.vae.config, "scaling_factor", 0.18215)
        init = p.vae.encode(img.to(dt)).latent_dist.mean * sf
        known = 1.0 - F.adaptive_max_pool2d(1.0 - keep_t, init.shape[-2:]) \
            if s.mode == "inpaint" else torch.zeros_like(init[:, :1])
        guided = s.guidance_scale > 1.0
        texts = [self.prompt(decoded)] + ([s.negative_prompt] if guided else [])
        emb = p.encode_prompt(texts).to(dt)
        emb = torch.cat([emb[1:], emb[:1]]) if guided else emb   # (negative, positive)
        control = None
        if p.controlnet is not None:
            seg = torch.from_numpy(segmentation_image(x.semantic_map)).permute(2, 0, 1)[None]
            control = pad_to(seg.to(dev), 64).to(dt)
            control = torch.cat([control] * 2) if guided else control
        gen = torch.Generator("cpu").manual_seed(self.cfg.seed + x.sequence)
        p.scheduler.set_timesteps(s.steps)
        start = max(0, s.steps - max(1, round(s.steps * strength)))
        timesteps = p.scheduler.timesteps[start:]
        noise = torch.randn(init.shape, generator=gen).to(dev, dt)
        latents = p.scheduler.add_noise(init, noise, timesteps[:1])
        for i, t in enumerate(timesteps):
            inp = torch.cat([latents] * 2) if guided else latents
            extra = {}
            if control is not None:
                down, mid = p.controlnet(inp, t, encoder_hidden_states=emb,
                                         controlnet_cond=control,
                                         conditioning_scale=s.controlnet_scale,
                                         return_dict=False)
                extra = {"down_block_additional_residuals": down,
                         "mid_block_additional_residual": mid}
            eps = p.unet(inp, t, encoder_hidden_states=emb, **extra).sample
            if guided:
                neg, pos = eps.chunk(2)
                eps = neg + s.guidance_scale * (pos - neg)
            latents = p.scheduler.step(eps, t, latents).prev_sample
            if s.mode == "inpaint":
                nxt = timesteps[i + 1] if i + 1 < len(timesteps) else None
                ref = init if nxt is None else p.scheduler.add_noise(init, noise, nxt[None])
                latents = known * ref + (1.0 - known) * latents
        out = p.vae.decode(latents / sf).sample.float()[..., :h, :w].clamp(-1, 1)
        comp = img[..., :h, :w]
        k = keep_t[..., :h, :w]
        out = k * comp + (1.0 - k) * out
        out = ((out + 1.0) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
        return np.ascontiguousarray(out[..., ::-1])
