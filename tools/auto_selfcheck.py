"""Quick self-check of the auto texture coder against per-frame stills and libx264.

Not the benchmark (``semcomm bench codec`` is): a short run that a developer of
the codec can repeat in a few minutes. For each clip (resized to 640x480, 10 fps)
and budget it prints weighted / key-object / full-frame PSNR, budget use and the
encoder's median time per frame (ours: without the detector) for ours-auto and
the baselines, then ours minus the best baseline; at ``--loss-budget`` it also
drops ``--loss`` of the messages (our encoder hears each frame's fate one frame
later, as from FrameReports) and prints key PSNR and the worst recovery.

    .venv/bin/python tools/auto_selfcheck.py --frames 60 --budgets 15 30 100 500
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from semcomm_ros.bench import codec as bench
from semcomm_ros.bench.metrics import frames_to_recover
from semcomm_ros.codec import BitstreamError, CodecConfig, CompositionDecoder
from semcomm_ros.codec.bitstream import unpack

FPS = 10.0
DATA = "data/opencv-doc/data/"


def decode_ours(payloads: list, lost: list[bool], cfg: CodecConfig) -> list:
    """Decode our frames; a lost or undecodable one shows the last picture."""
    dec = CompositionDecoder(cfg)
    images = []
    for data, gone in zip(payloads, lost):
        out = None
        if not gone:
            try:
                out = dec.decode(unpack(data, cfg.limits))
            except BitstreamError:  # e.g. its reference was lost
                out = None
        out = out or dec.conceal()
        images.append(out.image if out is not None else None)
    return images


def code(clip, name: str, budget: int, base: CodecConfig, lost: list[bool] | None = None):
    """(coded, pictures) of one codec; ours hears every frame's fate one frame later."""
    count = len(clip.frames)
    if name.startswith("ours"):
        cfg = bench.ours_config(name, base, FPS)
        coded = bench.encode_ours(clip, budget, cfg, lost or [False] * count, 1)
        return coded, decode_ours(coded.payloads, lost or [False] * count, cfg)
    coded, decode = bench.run_codec(clip, name, budget, FPS, base)
    return coded, decode(coded.payloads, lost or [False] * count)[0]


def main() -> None:
    """Run the self-check and print one line per clip, budget and codec."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--budgets", type=float, nargs="+", default=[15, 30, 100, 500])
    p.add_argument("--codecs", nargs="+", default=["ours-auto", "webp", "jpeg", "x264",
                                                   "x264-ir"])
    p.add_argument("--clips", nargs="+", default=[DATA + "vtest.avi", DATA + "box.mp4"])
    p.add_argument("--loss", type=float, default=0.10)
    p.add_argument("--loss-budget", type=float, default=100)
    p.add_argument("--native", action="store_true",
                   help="keep each clip's own size (default: resize to 640x480)")
    args = p.parse_args()
    base = CodecConfig()
    for path in args.clips:
        frames = bench.load_frames(path, args.frames, FPS)
        if not args.native:
            frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_AREA) for f in frames]
        clip = bench.Clip(name=path.rsplit("/", 1)[-1], frames=frames)
        start = time.perf_counter()
        detector = bench.detect_clip(clip, base)
        print(f"== {clip.name}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, "
              f"detector {detector} "
              f"{(time.perf_counter() - start) / len(frames) * 1000:.0f} ms/frame", flush=True)
        for kbps in args.budgets:
            budget = int(kbps * 1000 / 8 / FPS)
            rows = {}
            for name in args.codecs:
                coded, images = code(clip, name, budget, base)
                scores = bench.evaluate(clip, images, with_ssim=False)
                r = bench.summarise(clip, name, kbps, budget, coded, scores, [0.0], FPS)
                rows[name] = r
                print(f"{clip.name:10s} {kbps:5g} kbit/s {name:10s} wPSNR {r.wpsnr:6.2f} "
                      f"key {r.psnr_key:6.2f} full {r.psnr:6.2f} use {r.use:5.2f} "
                      f"within {r.within_budget:4.2f} enc {r.enc_ms:6.1f} ms", flush=True)
            others = [n for n in rows if not n.startswith("ours")]
            if "ours-auto" in rows and others:
                ours = rows["ours-auto"]
                best_w = max(rows[n].wpsnr for n in others)
                best_k = max(rows[n].psnr_key for n in others)
                full = ours.psnr - rows["webp"].psnr if "webp" in rows else float("nan")
                print(f"   -> auto - best baseline: wPSNR {ours.wpsnr - best_w:+.2f}, "
                      f"key {ours.psnr_key - best_k:+.2f}, full - webp {full:+.2f}", flush=True)
            if kbps != args.loss_budget or args.loss <= 0:
                continue
            lost = bench.loss_pattern(len(frames), args.loss, 1)
            for name in ("ours-auto", "x264"):
                clean = bench.evaluate(clip, code(clip, name, budget, base)[1], with_ssim=False)
                lossy = bench.evaluate(clip, code(clip, name, budget, base, lost)[1],
                                       with_ssim=False)
                key_lossy = [s.psnr_key for s in lossy]
                events = frames_to_recover(key_lossy, [s.psnr_key for s in clean], lost)
                print(f"   loss {args.loss:.0%} {name:10s} key {np.nanmean(key_lossy):6.2f} "
                      f"(clean {np.nanmean([s.psnr_key for s in clean]):6.2f}) events "
                      f"{len(events)} worst recovery {max(events, default=0)}", flush=True)


if __name__ == "__main__":
    main()
