"""Configuration of the reconstruction backends (ROS-parameter friendly dataclasses).

Every field is a bool, int, float or str so that ``semcomm_ros.config`` can map the
tree to ROS parameters (``reconstruction.backend``, ``reconstruction.sd.model`` ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from semcomm_ros.config import ConfigError, describe
from semcomm_ros.paths import SHARE

BACKENDS = ("none", "embedded", "sd")
DEVICES = ("auto", "cpu", "cuda")
SD_MODES = ("img2img", "inpaint")
PRIORS = ("none", "bicubic", "waifu2x")
PRIOR_PRECISIONS = ("auto", "float32", "bfloat16", "float16")

#: The checkpoint shipped in the repository (a folder, see docs/models/embedded_decoder.md):
#: models/ of the clone, or share/semcomm_ros/models of a colcon install (semcomm_ros.paths).
SHIPPED_CHECKPOINT = SHARE / "models" / "embedded_decoder"


@dataclass
class SDConfig:
    """Stable-Diffusion-class backend (diffusers parts; needs weights on disk)."""

    model: str = field(default="stable-diffusion-v1-5/stable-diffusion-v1-5", metadata=describe(
        "diffusers model id or local folder (unet/, vae/, text_encoder/, tokenizer/)"))
    mode: str = field(default="inpaint", metadata=describe(
        "img2img: regenerate the whole frame; inpaint: regenerate only low-weight regions"))
    controlnet: bool = field(default=False, metadata=describe(
        "condition on the semantic map with a segmentation ControlNet"))
    controlnet_model: str = field(default="lllyasviel/sd-controlnet-seg", metadata=describe(
        "ControlNet model id or local folder"))
    controlnet_scale: float = field(default=0.8, metadata=describe("ControlNet strength"))
    allow_download: bool = field(default=False, metadata=describe(
        "let diffusers fetch weights that are not cached locally (needs network)"))
    strength: float = field(default=0.5, metadata=describe(
        "start noise level in (0, 1] at the realism end; reconstruction.realism scales it "
        "(realism 0: the composite as received)"))
    steps: int = field(default=20, metadata=describe("scheduler steps over the full range"))
    guidance_scale: float = field(default=5.0, metadata=describe(
        "classifier-free guidance (1 disables it)"))
    prompt: str = field(default="a photo, sharp, detailed", metadata=describe(
        "text prompt; the detected object labels are appended"))
    negative_prompt: str = field(default="blurry, distorted", metadata=describe(
        "negative text prompt (used when guidance_scale > 1)"))
    fp16: bool = field(default=True, metadata=describe("half precision on CUDA"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        if self.mode not in SD_MODES:
            raise ConfigError(f"sd.mode must be one of {SD_MODES}, not {self.mode!r}")
        if not 0.0 < self.strength <= 1.0:
            raise ConfigError("sd.strength must be in (0, 1]")
        if self.steps < 1:
            raise ConfigError("sd.steps must be >= 1")
        if self.guidance_scale < 0:
            raise ConfigError("sd.guidance_scale must be >= 0")


@dataclass
class ReconstructionConfig:
    """Which reconstruction runs at the base station, and its fidelity/realism knob."""

    backend: str = field(default="embedded", metadata=describe(
        "none: composition only; embedded: the shipped small diffusion model; "
        "sd: Stable Diffusion pipelines (needs weights; runs at realism > 0)"))
    checkpoint: str = field(default="", metadata=describe(
        "embedded model folder; empty = the checkpoint shipped in models/embedded_decoder"))
    device: str = field(default="auto", metadata=describe("auto (cuda when present), cpu, cuda"))
    threads: int = field(default=0, metadata=describe(
        "CPU threads for torch (0 = leave torch's default)"))
    realism: float = field(default=0.0, metadata=describe(
        "the fidelity <-> realism knob in [0, 1], live at run time: 0 = fidelity end (one "
        "deterministic step, the PSNR-oriented estimate), 1 = realism end (4 DDIM steps, "
        "eta 1, from noise); key objects stay as received at any setting"))
    prior: str = field(default="waifu2x", metadata=describe(
        "upsampler of the coarse picture the codec sent, before the diffusion refinement: "
        "waifu2x (pretrained, tools/fetch_priors.sh; bicubic with a warning when missing), "
        "bicubic, none (the codec's bilinear)"))
    prior_noise: int = field(default=3, metadata=describe(
        "waifu2x denoise level -1..3 (3 matches low-rate codec output; "
        "docs/models/waifu2x_prior.md)"))
    prior_dir: str = field(default="", metadata=describe(
        "folder of the waifu2x ONNX files; empty = data/priors/waifu2x or the shared cache"))
    prior_precision: str = field(default="auto", metadata=describe(
        "arithmetic of the prior: auto (bfloat16 on a CPU that computes it natively, "
        "float16 on CUDA, else float32), float32, bfloat16, float16"))
    temporal: bool = field(default=True, metadata=describe(
        "use the previous frame: pixels whose composite did not change keep their "
        "previous reconstruction (no flicker, less work), and a temporal checkpoint also "
        "sees the previous frame's refined composite"))
    seed: int = field(default=0, metadata=describe(
        "noise seed; the frame's sequence number is added, so output is reproducible"))
    keep_low: float = field(default=0.45, metadata=describe(
        "weight at which regions sent with object texture start to be kept as received"))
    keep_high: float = field(default=0.6, metadata=describe(
        "weight at and above which received object texture is kept exactly"))
    max_pixels: int = field(default=2_073_600, metadata=describe(
        "largest picture refined (default 1920x1080): larger ones are shown as composed, "
        "which bounds the decoder's memory and time (a 3840x2160 refinement takes ~2 GB and "
        "several seconds on a CPU)"))
    sd: SDConfig = field(default_factory=SDConfig)

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        if self.max_pixels < 1:
            raise ConfigError("max_pixels must be >= 1")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, not {self.backend!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {DEVICES}, not {self.device!r}")
        if not 0.0 <= self.realism <= 1.0:
            raise ConfigError("realism must be in [0, 1]")
        if self.prior not in PRIORS:
            raise ConfigError(f"prior must be one of {PRIORS}, not {self.prior!r}")
        if not -1 <= self.prior_noise <= 3:
            raise ConfigError("prior_noise must be in [-1, 3]")
        if self.prior_precision not in PRIOR_PRECISIONS:
            raise ConfigError(f"prior_precision must be one of {PRIOR_PRECISIONS}, "
                              f"not {self.prior_precision!r}")
        if not 0.0 <= self.keep_low < self.keep_high <= 1.0:
            raise ConfigError("need 0 <= keep_low < keep_high <= 1")
        if self.threads < 0:
            raise ConfigError("threads must be >= 0")
        self.sd.validate()

    def sampling(self) -> dict:
        """The sampler settings of the knob: steps, eta, noise_scale."""
        return sampling(self.realism)

    def checkpoint_path(self) -> Path:
        """The checkpoint folder to load (the shipped one unless configured)."""
        return Path(self.checkpoint).expanduser() if self.checkpoint else SHIPPED_CHECKPOINT


def sampling(realism: float) -> dict:
    """Knob -> sampler: 0 -> 1 step from zeros (regression), 1 -> 4 steps, eta 1, from noise."""
    r = float(min(1.0, max(0.0, realism)))
    return {"steps": 1 + round(3 * r), "eta": r, "noise_scale": r}


#: Knob presets used by the benchmark and docs.
FIDELITY_END = {"realism": 0.0}
REALISM_END = {"realism": 1.0}
