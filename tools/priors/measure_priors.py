"""Choose the reconstruction's pretrained prior on the codec's real output.

Runs the project's codec (default settings = what the nodes run: auto coder, the COCO
detector; plus the region coder) at several budgets on TRAINING material only (opencv-doc
photos outside the held-out split, vtest.avi frames 0-599), takes the coarse picture the
decoder scaled up (DecodedFrame.coarse) and compares upsamplers on the pixels that came
from it: PSNR and SSIM of the composite with those pixels replaced, and time.

    .venv/bin/python tools/priors/measure_priors.py [--photos 12] [--frames 12] > out.md
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from semcomm_ros.bench.metrics import quality
from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
from semcomm_ros.node_config import codec_config
from semcomm_ros.reconstruction.data import (
    DEFAULT_DATA_DIR,
    EXCLUDED_PHOTOS,
    SAMPLE_VIDEO,
    _fit,
    read_images,
)
from semcomm_ros.reconstruction.prior import (
    BicubicUpsampler,
    Upsampler,
    Waifu2xUpsampler,
    apply_prior,
    coarse_mask,
)


class Lanczos(Upsampler):
    """OpenCV Lanczos-4 interpolation."""

    name = "lanczos4"

    def __call__(self, small, width, height):
        """Lanczos upscale."""
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LANCZOS4)


def candidates(threads: int) -> dict[str, Upsampler]:
    """The upsamplers compared."""
    c = {"bilinear (codec)": Upsampler(), "bicubic": BicubicUpsampler(), "lanczos4": Lanczos()}
    for n in (-1, 0, 1, 2, 3):
        c[f"waifu2x noise{n} x1pass"] = Waifu2xUpsampler(n, 1, threads)
    c["waifu2x noise3 x2pass"] = Waifu2xUpsampler(3, 2, threads)
    c["waifu2x noise2 x2pass"] = Waifu2xUpsampler(2, 2, threads)
    return c


def streams(n_photos: int, n_frames: int):
    """Training photos (one stream each) and one vtest stream (frames 0-599, every 5th)."""
    photos = [s for s in read_images(DEFAULT_DATA_DIR, EXCLUDED_PHOTOS)]
    photos = [(_fit(s.image), s.name) for s in photos]
    photos = [(im, n) for im, n in photos if im is not None]
    step = max(1, len(photos) // n_photos)
    out = [[p] for p in photos[::step][:n_photos]]
    cap = cv2.VideoCapture(str(DEFAULT_DATA_DIR / SAMPLE_VIDEO))
    frames, i = [], 0
    while i < 600:
        ok, img = cap.read()
        if not ok:
            break
        if i % 5 == 0:
            frames.append((img, f"vtest#{i}"))
        i += 1
    out.append(frames[: n_frames * 4])  # one stream, every 4th scored
    return out


def main() -> None:
    """Measure and print the markdown tables."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.03, 0.06, 0.1, 0.2])
    ap.add_argument("--coders", nargs="+", default=["auto", "region"])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    cands = candidates(a.threads)
    res: dict = {}
    times: dict = {k: [] for k in cands}
    scales = []
    for coder in a.coders:
        cfg = codec_config()
        cfg.texture.coder = coder
        for bpp in a.bpp:
            for stream in streams(a.photos, a.frames):
                enc, dec = SemanticEncoder(cfg), CompositionDecoder(cfg)
                video = len(stream) > 1
                for j, (img, _name) in enumerate(stream):
                    h, w = img.shape[:2]
                    f = enc.encode(img, byte_budget=max(100, int(bpp * h * w / 8)), sequence=j)
                    d = dec.decode(f)
                    if video and j % 4:
                        continue
                    if d.coarse is None:
                        continue
                    scales.append(d.coarse.shape[1] / w)
                    m = coarse_mask(d.image, d.coarse)
                    key = ~m
                    for k, up in cands.items():
                        t0 = time.perf_counter()
                        out = apply_prior(d.image, d.coarse, up)
                        times[k].append((time.perf_counter() - t0) * (640 * 480) / (h * w))
                        q = quality(img, out, key)
                        grp = "video" if video else "photos"
                        r = res.setdefault((coder, bpp, grp, k), [])
                        r.append((q.psnr_bg, q.psnr, q.ssim))
    print(f"coarse scale (coded width / source width): median {np.median(scales):.2f}, "
          f"range {min(scales):.2f}-{max(scales):.2f}, n={len(scales)}\n")
    base = "bilinear (codec)"
    print("| coder | bpp | data | n | " + " | ".join(cands) + " |")
    print("|---|---|---|---|" + "---|" * len(cands))
    summary = {k: [] for k in cands}
    for coder in a.coders:
        for bpp in a.bpp:
            for grp in ("photos", "video"):
                rows = {k: np.array(res.get((coder, bpp, grp, k), [])) for k in cands}
                if not len(rows[base]):
                    continue
                cells = []
                for k in cands:
                    dp = np.median(rows[k][:, 1] - rows[base][:, 1])
                    ds = np.median(rows[k][:, 2] - rows[base][:, 2])
                    summary[k].append((dp, ds))
                    cells.append(f"{dp:+.2f} / {ds:+.4f}")
                print(f"| {coder} | {bpp} | {grp} | {len(rows[base])} | "
                      + " | ".join(cells) + " |")
    print("\nmedian over rows (ΔPSNR dB / ΔSSIM vs bilinear), time per 640x480 frame:\n")
    print("| upsampler | ΔPSNR | ΔSSIM | s/frame |\n|---|---|---|---|")
    for k, v in summary.items():
        v = np.array(v)
        print(f"| {k} | {np.median(v[:, 0]):+.2f} | {np.median(v[:, 1]):+.4f} | "
              f"{np.median(times[k]):.3f} |")


if __name__ == "__main__":
    main()
