"""The Stable Diffusion backend with tiny, randomly initialised diffusers components."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel

from semcomm_ros.reconstruction import ReconstructionConfig
from semcomm_ros.reconstruction.sd import SDComponents, SDReconstructor, segmentation_image

BLOCKS = (32, 64)


def tiny_components(controlnet: bool) -> SDComponents:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=BLOCKS,
        layers_per_block=1, cross_attention_dim=16, attention_head_dim=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=16)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        block_out_channels=BLOCKS, layers_per_block=1, norm_num_groups=16,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2)
    cn = ControlNetModel(
        in_channels=4, block_out_channels=BLOCKS, layers_per_block=1, cross_attention_dim=16,
        attention_head_dim=8, norm_num_groups=16, conditioning_embedding_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D")) if controlnet else None
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                              beta_start=0.00085, beta_end=0.012, clip_sample=False)

    def encode(texts: list[str]) -> torch.Tensor:
        # a stand-in text encoder: one fixed embedding per prompt length
        g = torch.Generator().manual_seed(0)
        base = torch.randn(1, 6, 16, generator=g)
        return torch.cat([base * (1 + len(t) % 3) for t in texts])

    return SDComponents(vae, unet, scheduler, encode, cn)


@pytest.mark.parametrize(("mode", "controlnet"), [("img2img", False), ("inpaint", True)])
def test_sd_backend_with_tiny_components(make_frame, mode, controlnet):
    cfg = ReconstructionConfig(backend="sd", device="cpu", realism=1.0)
    cfg.sd.mode, cfg.sd.controlnet, cfg.sd.steps, cfg.sd.strength = mode, controlnet, 4, 0.5
    rec = SDReconstructor(cfg, components=tiny_components(controlnet))
    assert rec.name == "sd"
    d = make_frame(45, 70)
    out = rec.reconstruct(d)
    assert out.shape == d.image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[5:20, 10:30], d.image[5:20, 10:30])  # key object kept
    assert np.abs(out.astype(int) - d.image)[30:, 40:].mean() > 1     # background redrawn
    np.testing.assert_array_equal(out, rec.reconstruct(d))            # seeded


def test_sd_guidance_off_uses_one_prompt(make_frame):
    cfg = ReconstructionConfig(backend="sd", device="cpu", realism=1.0)
    cfg.sd.guidance_scale, cfg.sd.steps = 1.0, 2
    rec = SDReconstructor(cfg, components=tiny_components(False))
    assert rec.reconstruct(make_frame(16, 24)).shape == (16, 24, 3)


def test_realism_knob_drives_sd_live(make_frame):
    """One knob for every backend: realism 0 shows what arrived, more realism denoises longer."""
    from dataclasses import replace
    cfg = ReconstructionConfig(backend="sd", device="cpu", realism=0.0)
    cfg.sd.steps, cfg.sd.strength, cfg.sd.guidance_scale = 4, 1.0, 1.0
    parts = tiny_components(False)
    calls = []
    forward = parts.unet.forward
    parts.unet.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    rec = SDReconstructor(cfg, components=parts)
    d = make_frame(45, 70)
    np.testing.assert_array_equal(rec.reconstruct(d), d.image)  # fidelity end: as received
    assert not calls
    steps = []
    for realism in (0.25, 1.0):
        assert rec.update_config(replace(cfg, realism=realism))  # in place, no reload
        calls.clear()
        out = rec.reconstruct(d)
        np.testing.assert_array_equal(out[5:20, 10:30], d.image[5:20, 10:30])  # key kept
        steps.append(len(calls))
    assert steps == [1, 4], steps  # strength = realism x sd.strength of 4 steps
    assert not rec.update_config(replace(cfg, device="cuda"))  # not live: rebuild


def test_segmentation_colours_are_stable():
    sem = np.array([[0, 1, 2, 1]], np.uint16)
    img = segmentation_image(sem)
    assert img[0, 0].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(img[0, 1], img[0, 3])
    assert not np.array_equal(img[0, 1], img[0, 2])
