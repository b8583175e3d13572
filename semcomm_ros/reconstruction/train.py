"""``semcomm train-decoder``: train (or fine-tune) the embedded decoder.

Steps: collect images (folders, videos, bags; default = the sample data minus the
held-out split), build a pack of training pairs by running the degradation at random
budgets, then train the conditional diffusion model on random crops. Training starts
from the shipped checkpoint unless ``--init none``; ``--out`` holds ``state.pt``
(resumable: run the same command again to continue) and ``model/`` (the exported
checkpoint, loadable with ``reconstruction.checkpoint``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from semcomm_ros.reconstruction.config import SHIPPED_CHECKPOINT
from semcomm_ros.reconstruction.data import (
    PackedPair,
    build_pack,
    iter_sources,
    load_pack,
)
from semcomm_ros.reconstruction.models import (
    CheckpointError,
    DecoderSpec,
    EmbeddedDecoder,
    make_scheduler,
)
from semcomm_ros.reconstruction.pipeline import keep_map

log = logging.getLogger("semcomm_ros.reconstruction.train")


@dataclass
class TrainOptions:
    """Everything one training run depends on (saved with the checkpoint)."""

    out: str = "out/train-decoder"
    init: str = "shipped"          # "shipped", "none" (fresh) or a checkpoint folder
    steps: int = 2000
    batch: int = 8
    crop: int = 128
    lr: float = 5e-4
    warmup: int = 100
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    save_every: int = 500
    time_limit: float = 0.0        # seconds, 0 = none
    final_step_share: float = 0.3  # share of samples at t=T (the one-step estimate)
    zero_noise_share: float = 0.5  # of those, share with zero noise (the fidelity end)
    ema: float = 0.998
    keep_low: float = 0.45
    keep_high: float = 0.6
    temporal: bool = True          # condition on the previous frame (widens a non-temporal init)
    previous_drop: float = 0.2     # share of samples whose previous frame is hidden
    spec: dict = field(default_factory=dict)  # DecoderSpec fields for a fresh model


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda when available; an explicit cuda without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda requested but CUDA is not available")
    return torch.device(name)


class CropSampler:
    """Random aligned crops (with flips) of pairs, as float tensors."""

    def __init__(self, pairs: list[PackedPair], crop: int, keep_low: float, keep_high: float,
                 seed: int):
        if not pairs:
            raise ValueError("empty training set")
        self.pairs, self.crop = pairs, crop
        self.keep = [keep_map(p.weight_map, p.level, keep_low, keep_high) for p in pairs]
        self.rng = np.random.default_rng(seed)

    def _padded(self, a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        ph, pw = max(0, self.crop - h), max(0, self.crop - w)
        return cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REFLECT) if ph or pw else a

    def batch(self, n: int, previous_drop: float = 0.0
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random crops: original, composite, maps, previous, valid.

        original, composite (B,3,c,c in [-1,1]), maps (B,3,c,c: weight, objects, keep),
        the previous frame's composite (B,3,c,c; the composite where there is none) and
        its validity (B,1,c,c: 1 where a previous frame is given).
        """
        c = self.crop
        o = np.empty((n, c, c, 3), np.uint8)
        k = np.empty((n, c, c, 3), np.uint8)
        pv = np.empty((n, c, c, 3), np.uint8)
        m = np.empty((n, 3, c, c), np.float32)
        v = np.zeros((n, 1, 1, 1), np.float32)
        for b in range(n):
            i = int(self.rng.integers(len(self.pairs)))
            p = self.pairs[i]
            prev = getattr(p, "previous", None)
            if prev is not None and self.rng.random() < previous_drop:
                prev = None
            arrs = [self._padded(a) for a in (p.original, p.composite, p.weight_map,
                                              (p.semantic_map > 0).astype(np.float32),
                                              self.keep[i],
                                              p.composite if prev is None else prev)]
            h, w = arrs[0].shape[:2]
            y, x = int(self.rng.integers(h - c + 1)), int(self.rng.integers(w - c + 1))
            arrs = [a[y:y + c, x:x + c] for a in arrs]
            if self.rng.random() < 0.5:
                arrs = [a[:, ::-1] for a in arrs]
            o[b], k[b], pv[b] = arrs[0], arrs[1], arrs[5]
            m[b] = np.stack(arrs[2:5])
            v[b] = float(prev is not None)
        def f(a):
            return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        valid = torch.from_numpy(v).expand(n, 1, c, c).contiguous()
        return f(o), f(k), torch.from_numpy(m), f(pv), valid


def residual_scale(sampler: CropSampler, n: int = 64) -> float:
    """1 / std of the residual outside kept regions (so the latent has unit variance)."""
    o, k, m, _, _ = sampler.batch(n)
    r = (o - k) * (1 - m[:, 2:3])
    std = float(r.pow(2).sum() / ((1 - m[:, 2:3]).sum() * 3 + 1e-6)) ** 0.5
    return float(np.clip(1.0 / max(std, 1e-3), 1.0, 50.0))


def batch_loss(model: EmbeddedDecoder, original: torch.Tensor, composite: torch.Tensor,
               maps: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
               amp: bool = False, previous: torch.Tensor | None = None,
               valid: torch.Tensor | None = None) -> torch.Tensor:
    """Denoising loss: MSE of the predicted clean residual, outside kept regions.

    The residual is noised to timestep ``t`` (cosine schedule) and the model predicts
    it back; the error is measured in unit-variance residual units, weighted by
    ``1 - keep`` because kept regions are returned as received anyway.
    """
    acp = make_scheduler().alphas_cumprod.to(original.device)
    z0 = model.to_latent(original - composite)
    a = acp[t].view(-1, 1, 1, 1)
    zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
    with torch.autocast(original.device.type, dtype=torch.bfloat16, enabled=amp):
        pred = model(zt, t, model.condition(composite, maps, previous, valid))
    err = model.from_latent(pred.float() - z0) * model.spec.residual_scale
    w = 1.0 - maps[:, 2:3]
    return (err.pow(2) * w).sum() / (w.sum() * 3 + 1e-6)


def initial_model(opts: TrainOptions, sampler: CropSampler) -> EmbeddedDecoder:
    """The shipped checkpoint, a given one, or a fresh model (``init='none'``)."""
    if opts.init != "none":
        path = SHIPPED_CHECKPOINT if opts.init == "shipped" else Path(opts.init)
        try:
            model = EmbeddedDecoder.load(path)
            log.info("starting from checkpoint %s", path)
            return model.with_temporal() if opts.temporal else model
        except CheckpointError as exc:
            if opts.init != "shipped":
                raise
            log.warning("shipped checkpoint not loadable (%s): training a fresh model", exc)
    spec = DecoderSpec(**opts.spec)
    spec.block_out_channels = tuple(spec.block_out_channels)
    spec.residual_scale = residual_scale(sampler)
    spec.temporal = spec.temporal or opts.temporal
    if opts.crop % spec.multiple:
        raise ValueError(f"crop must be a multiple of {spec.multiple}")
    return EmbeddedDecoder(spec)


def train(pairs: list[PackedPair], opts: TrainOptions, info: dict | None = None,
          progress: bool = True) -> dict:
    """Train on in-memory pairs; resumes from ``opts.out/state.pt``. Returns a summary."""
    torch.manual_seed(opts.seed)
    torch.set_flush_denormal(True)  # denormals slow CPU convolutions several-fold
    device = pick_device(opts.device)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.pt"
    sampler = CropSampler(pairs, opts.crop, opts.keep_low, opts.keep_high, opts.seed)
    state = torch.load(state_path, map_location="cpu", weights_only=False) \
        if state_path.is_file() else None
    if state:
        spec = DecoderSpec(**state["spec"])
        spec.block_out_channels = tuple(spec.block_out_channels)
        model = EmbeddedDecoder(spec)
        model.load_state_dict(state["model"])
        log.info("resuming %s at step %d", state_path, state["step"])
    else:
        model = initial_model(opts, sampler)
    # the step count continues the initial checkpoint's (fine-tuning the shipped model)
    base_steps = state.get("base_steps", 0) if state else int(
        model.spec.training.get("total_steps", model.spec.training.get("steps", 0)) or 0)
    model.to(device).train()
    ema = deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.0)
    step, history, seconds = 0, [], 0.0
    if state:
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, history, seconds = state["step"], state["history"], state["seconds"]
        sampler.rng.bit_generator.state = state["sampler_rng"]
        torch.set_rng_state(state["torch_rng"])
    T = make_scheduler().config.num_train_timesteps
    use_amp = opts.amp and device.type == "cuda"
    gen = torch.Generator("cpu").manual_seed(opts.seed + step)

    def lr_at(s: int) -> float:
        if s < opts.warmup:
            return opts.lr * (s + 1) / opts.warmup
        frac = (s - opts.warmup) / max(1, opts.steps - opts.warmup)
        return opts.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    def save():
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(),
                    "opt": opt.state_dict(), "step": step, "history": history,
                    "seconds": seconds, "spec": asdict(model.spec),
                    "sampler_rng": sampler.rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "options": asdict(opts),
                    "base_steps": base_steps}, state_path)
        ema.spec.training = {"steps": step, "total_steps": base_steps + step,
                             "init": opts.init, "seconds": round(seconds, 1),
                             "device": torch.cuda.get_device_name(device)
                             if device.type == "cuda" else "cpu",
                             "batch": opts.batch, "crop": opts.crop, "lr": opts.lr,
                             "seed": opts.seed, "data": info or {},
                             "final_loss": history[-1][1] if history else None}
        ema.save(out / "model")

    t0 = time.perf_counter() - seconds
    bar = tqdm(total=opts.steps, initial=step, desc="train-decoder", disable=not progress)
    running = None
    while step < opts.steps:
        if opts.time_limit and time.perf_counter() - t0 > opts.time_limit:
            log.info("time limit reached at step %d", step)
            break
        o, k, m, pv, va = (x.to(device, non_blocking=True)
                           for x in sampler.batch(opts.batch, opts.previous_drop))
        n = o.shape[0]
        t = torch.randint(0, T, (n,), generator=gen)
        t[torch.rand(n, generator=gen) < opts.final_step_share] = T - 1
        t = t.to(device)
        p = model.spec.patch
        noise = torch.randn((n, model.spec.latent_channels, o.shape[2] // p, o.shape[3] // p),
                            generator=gen)
        # the fidelity end starts from zeros at t=T: a plain regression of the residual
        zero = (t.cpu() == T - 1) & (torch.rand(n, generator=gen) < opts.zero_noise_share)
        noise[zero] = 0.0
        noise = noise.to(device)
        loss = batch_loss(model, o, k, m, t, noise, amp=use_amp, previous=pv, valid=va)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(opts.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
        step += 1
        lv = float(loss.detach())
        running = lv if running is None else 0.98 * running + 0.02 * lv
        if step % 10 == 0 or step == opts.steps:
            history.append((step, running))
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)
        bar.update(1)
        seconds = time.perf_counter() - t0
        if opts.save_every and step % opts.save_every == 0:
            save()
    bar.close()
    seconds = time.perf_counter() - t0
    save()
    return {"steps": step, "total_steps": base_steps + step, "seconds": seconds,
            "loss": running, "history": history,
            "model": str(out / "model"), "parameters": model.num_parameters()}


# -- CLI ------------------------------------------------------------------------------
def register(subparsers) -> argparse.ArgumentParser:
    """Add ``train-decoder`` to the ``semcomm`` CLI (``args.func(args)`` runs it)."""
    p = subparsers.add_parser(
        "train-decoder", help="train or fine-tune the embedded diffusion decoder",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``semcomm train-decoder``."""
    d = TrainOptions()
    p.add_argument("inputs", nargs="*", help="image folders, images, videos, rosbag2 bags "
                   "(default: opencv-doc photos minus held-out + vtest.avi frames 0-599)")
    p.add_argument("--out", default=d.out, help="run folder: state.pt, pack.npz, model/")
    p.add_argument("--pack", default="", help="use this pack instead of building one")
    p.add_argument("--rebuild-pack", action="store_true", help="rebuild out/pack.npz")
    p.add_argument("--init", default=d.init, help="shipped | none | checkpoint folder")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimiser steps")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--crop", type=int, default=d.crop, help="crop side (multiple of 32)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--time-limit", type=float, default=0.0, help="stop after N seconds")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--budgets-per-image", type=int, default=3,
                   help="passes over the sources, each with fresh random budgets")
    p.add_argument("--bpp", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="random budgets in bits per pixel (log-uniform) instead of --kbit")
    p.add_argument("--kbit", type=float, nargs=2, default=(15.0, 500.0), metavar=("MIN", "MAX"),
                   help="range of random budgets in kbit/s at --fps (log-uniform)")
    p.add_argument("--fps", type=float, default=5.0, help="camera rate for --kbit budgets")
    p.add_argument("--coders", nargs="+", default=["auto", "region", "video"],
                   help="texture coders, one per pass over the sources (cycled)")
    p.add_argument("--prior", default="waifu2x", choices=("waifu2x", "bicubic", "none"),
                   help="upsampler of the coarse picture applied to the stored composites "
                   "(the embedded backend's reconstruction.prior)")
    p.add_argument("--no-temporal", action="store_true",
                   help="no previous-frame conditioning (keeps a non-temporal init as it is)")
    p.add_argument("--video-every", type=int, default=5, help="store every n-th fed frame")
    p.add_argument("--video-step", type=int, default=2,
                   help="feed every n-th video frame to the codec (10 Hz vtest -> 5 Hz)")
    p.add_argument("--topic", default="", help="bag image topic (default: all image topics)")
    p.add_argument("--synthetic", action="store_true",
                   help="make pairs with the stand-in degradation, not the project codec")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``semcomm train-decoder``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    pack = Path(args.pack) if args.pack else out / "pack.npz"
    if not pack.is_file() or (args.rebuild_pack and not args.pack):
        sources = list(iter_sources(args.inputs, video_every=args.video_every,
                                    topic=args.topic, video_step=args.video_step))
        from semcomm_ros.reconstruction.prior import make_upsampler
        up = make_upsampler(args.prior, threads=args.threads) if args.prior != "none" else None
        build_pack(sources, pack, args.budgets_per_image, tuple(args.bpp or (0.02, 0.4)),
                   args.seed, use_codec=not args.synthetic, coders=tuple(args.coders),
                   kbit_range=None if args.bpp else tuple(args.kbit), fps=args.fps,
                   upsampler=up)
    pairs, info = load_pack(pack)
    log.info("pack %s: %s", pack, info)
    opts = TrainOptions(out=str(out), init=args.init, steps=args.steps, batch=args.batch,
                        crop=args.crop, lr=args.lr, seed=args.seed, device=args.device,
                        amp=not args.no_amp, save_every=args.save_every,
                        time_limit=args.time_limit, temporal=not args.no_temporal)
    summary = train(pairs, opts, info)
    summary.pop("history")
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m semcomm_ros.reconstruction.train``."""
    parser = argparse.ArgumentParser(prog="semcomm train-decoder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
