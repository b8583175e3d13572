"""``semcomm bench decoder``: composition vs the embedded decoder on held-out data.

On the same bitstreams (the project's codec at several budgets) it compares the
composition (backend ``none``) with the embedded decoder at both ends of its knob
(fidelity: 1 step; realism: 4 steps, eta 1), on the held-out frames of the sample
video (600-794, fed to the codec in order, every ``--every``-th scored) and on the
held-out photos (plus any ``--images`` you add). Metrics: PSNR, SSIM (full, key-object
region, background), MS-SSIM, GMSD and VIF (piq), GMSD in the background, and the
semantic-fidelity recall: objects the detector finds on the original that it finds
again (same label, IoU >= 0.5) on the reconstruction. Also the time per 640x480 frame.
Writes ``docs/benchmarks/decoder.md`` (+ PNGs) with medians over frames.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from semcomm_ros.bench.report import machine as base_machine
from semcomm_ros.reconstruction import (
    FIDELITY_END,
    REALISM_END,
    ReconstructionConfig,
    make_reconstructor,
)
from semcomm_ros.reconstruction.data import (
    DEFAULT_DATA_DIR,
    HELD_OUT_FRAMES,
    HELD_OUT_PHOTOS,
    IMAGE_EXT,
    SAMPLE_VIDEO,
)
from semcomm_ros.reconstruction.prior import Upsampler, apply_prior, make_upsampler

log = logging.getLogger("semcomm_ros.reconstruction.bench")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "docs" / "benchmarks" / "decoder.md"
DEFAULT_BPP = (0.03, 0.06, 0.1, 0.2)
METHODS = ("composition", "prior", "fidelity", "realism")
KEY_WEIGHT = 0.6  # key-object region: decoded weight at or above the codec's key threshold


@dataclass
class Stream:
    """Frames fed to one codec instance in order; ``scored`` indices are evaluated."""

    name: str
    frames: list[np.ndarray]
    scored: list[int]
    group: str


@dataclass
class Scores:
    """Per-frame metric lists for one (group, bpp, method)."""

    values: dict[str, list[float]] = field(default_factory=dict)
    found: int = 0
    total: int = 0

    def add(self, name: str, value: float) -> None:
        """Append one frame's value of metric ``name``."""
        self.values.setdefault(name, []).append(float(value))

    def median(self, name: str) -> float:
        """Median over frames, NaN ignored."""
        arr = np.asarray(self.values.get(name, []), float)
        arr = arr[~np.isnan(arr)]
        return float(np.median(arr)) if arr.size else float("nan")


# -- data -------------------------------------------------------------------------
def held_out_streams(data_dir: Path, every: int, extra: list[str], max_frames: int
                     ) -> list[Stream]:
    """The held-out video frames (one stream) and held-out/extra photos (one each)."""
    streams = []
    video = data_dir / SAMPLE_VIDEO
    if video.is_file():
        cap = cv2.VideoCapture(str(video))
        frames, i = [], 0
        while True:
            ok, img = cap.read()
            if not ok or i >= HELD_OUT_FRAMES.stop or len(frames) >= max_frames:
                break
            if i in HELD_OUT_FRAMES:
                frames.append(img)
            i += 1
        cap.release()
        streams.append(Stream("vtest 600-794", frames, list(range(0, len(frames), every)),
                              "video (held-out frames)"))
    paths = [data_dir / n for n in HELD_OUT_PHOTOS]
    for item in extra:
        p = Path(item)
        paths += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXT) \
            if p.is_dir() else [p]
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("skipping unreadable image %s", p)
            continue
        h, w = img.shape[:2]
        if max(h, w) > 1024:
            s = 1024 / max(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        group = "photos (held-out)" if p.name in HELD_OUT_PHOTOS and p.parent == data_dir \
            else "photos (extra)"
        streams.append(Stream(p.name, [img], [0], group))
    if not streams:
        raise SystemExit(f"no held-out data under {data_dir} (run `semcomm make-sample`?)")
    return streams


# -- metrics ----------------------------------------------------------------------
def _t(img: np.ndarray) -> torch.Tensor:
    """BGR uint8 -> RGB float tensor (1,3,H,W) in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)[None] / 255.0


def gms_map(ref: np.ndarray, test: np.ndarray) -> torch.Tensor:
    """Gradient-magnitude similarity map as in GMSD (Xue et al. 2014; piq's constants)."""
    def luma(x: torch.Tensor) -> torch.Tensor:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return F.avg_pool2d((x * w).sum(1, keepdim=True), 2)
    k = torch.tensor([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3
    kernels = torch.stack([k, k.t()])[:, None]

    def mag(x: torch.Tensor) -> torch.Tensor:
        g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)
        return g.pow(2).sum(1).sqrt()
    a, b = mag(luma(_t(ref))), mag(luma(_t(test)))
    c = 170 / 255 ** 2
    return ((2 * a * b + c) / (a ** 2 + b ** 2 + c))[0]


def region_gmsd(ref: np.ndarray, test: np.ndarray, mask: np.ndarray) -> float:
    """GMSD (std of the GMS map; lower is better) over a region (mask at full size)."""
    gms = gms_map(ref, test)
    m = cv2.resize(mask.astype(np.uint8), (gms.shape[1], gms.shape[0]),
                   interpolation=cv2.INTER_NEAREST).astype(bool)
    vals = gms.numpy()[m]
    return float(vals.std()) if vals.size > 16 else float("nan")


def frame_metrics(ref: np.ndarray, test: np.ndarray, key: np.ndarray) -> dict[str, float]:
    """Every metric of one reconstruction."""
    import piq

    from semcomm_ros.bench.metrics import quality
    q = quality(ref, test, key)
    r, t = _t(ref), _t(test)
    with torch.no_grad():
        out = {"psnr": q.psnr, "ssim": q.ssim, "psnr_key": q.psnr_key, "psnr_bg": q.psnr_bg,
               "ssim_bg": q.ssim_bg,
               "msssim": float(piq.multi_scale_ssim(t, r, data_range=1.0))
               if min(ref.shape[:2]) > 160 else float("nan"),
               "gmsd": float(piq.gmsd(t, r, data_range=1.0)),
               "vif": float(piq.vif_p(t, r, data_range=1.0)),
               "gmsd_bg": region_gmsd(ref, test, ~key)}
    return out


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / max(1, aw * ah + bw * bh - inter)


def recall(reference: list, found: list, iou: float = 0.5) -> tuple[int, int]:
    """(matched, total): reference detections found again (same label, IoU >= iou)."""
    used, matched = set(), 0
    for r in reference:
        best = max(((j, _iou(r.box, f.box)) for j, f in enumerate(found)
                    if j not in used and f.label == r.label), key=lambda x: x[1],
                   default=(None, 0.0))
        if best[0] is not None and best[1] >= iou:
            used.add(best[0])
            matched += 1
    return matched, len(reference)


# -- runs -------------------------------------------------------------------------
class SharedPrior(Upsampler):
    """One upsampler shared by the methods of the benchmark (one run per coarse picture)."""

    def __init__(self, upsampler: Upsampler):
        self.upsampler, self.name = upsampler, upsampler.name
        self._key: tuple | None = None
        self._out: np.ndarray | None = None

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        """The wrapped upsampler's output, reused for the same input."""
        key = (small.shape, width, height, hash(small.tobytes()))
        if key != self._key:
            self._key, self._out = key, self.upsampler(small, width, height)
        return self._out

    def clear(self) -> None:
        """Forget the last result (for timing)."""
        self._key = self._out = None


class PriorOnly:
    """The composite with the coarse picture upsampled by the prior, no diffusion."""

    name = "prior"

    def __init__(self, upsampler: Upsampler):
        self.upsampler = upsampler

    def reconstruct(self, decoded) -> np.ndarray:
        """apply_prior on the decoded frame."""
        from semcomm_ros.reconstruction.backends import read_inputs
        x = read_inputs(decoded)
        return apply_prior(x.image, x.coarse, self.upsampler)

    def reset(self) -> None:
        """Stateless."""


def make_backends(args: argparse.Namespace) -> dict:
    """Composition, prior only, the embedded decoder at both knob ends (no silent fallback)."""
    from semcomm_ros.reconstruction.backends import EmbeddedReconstructor, resolve_device
    from semcomm_ros.reconstruction.models import EmbeddedDecoder
    recs = {"composition": make_reconstructor(ReconstructionConfig(backend="none"))}
    base = ReconstructionConfig(backend="embedded", checkpoint=args.checkpoint,
                                device=args.device, threads=args.threads, prior=args.prior,
                                temporal=not args.no_temporal)
    up = SharedPrior(make_upsampler(base.prior, base.prior_noise, 1, args.threads,
                                    base.prior_dir, resolve_device(base.device),
                                    base.prior_precision))
    recs["prior"] = PriorOnly(up)
    model = EmbeddedDecoder.load(base.checkpoint_path())
    for name, preset in (("fidelity", FIDELITY_END), ("realism", REALISM_END)):
        recs[name] = EmbeddedReconstructor(replace(base, **preset), model=model, upsampler=up)
    return recs


def evaluate(streams: list[Stream], budgets: list[float], recs: dict, detect: bool
             ) -> dict[tuple[str, float, str], Scores]:
    """Run codec + backends over every stream and budget; collect per-frame scores."""
    from tqdm import tqdm

    from semcomm_ros.codec import CompositionDecoder, DetectorConfig, SemanticEncoder
    from semcomm_ros.codec.detect import make_detector
    from semcomm_ros.node_config import codec_config
    # The configured detector (auto: the pretrained COCO ONNX detector offline); motion
    # and saliency are off so that the OpenCV fallback, if it is all there is, scores stills.
    detector = make_detector(DetectorConfig(use_motion=False, use_saliency=False)) \
        if detect else None
    results: dict[tuple[str, float, str], Scores] = {}
    total = len(budgets) * sum(len(s.frames) for s in streams)
    bar = tqdm(total=total, desc="bench decoder")
    for bpp in budgets:
        for s in streams:
            enc, dec = SemanticEncoder(codec_config()), CompositionDecoder(codec_config())
            for rec in recs.values():
                if hasattr(rec, "reset"):
                    rec.reset()  # a new stream: no previous frame
            for i, img in enumerate(s.frames):
                bar.update(1)
                h, w = img.shape[:2]
                frame = enc.encode(img, byte_budget=max(100, int(bpp * h * w / 8)), sequence=i)
                decoded = dec.decode(frame)
                if i not in s.scored:
                    # the temporal methods see every frame (their previous reconstruction)
                    for rec in recs.values():
                        if getattr(getattr(rec, "cfg", None), "temporal", False):
                            rec.reconstruct(decoded)
                    continue
                key = decoded.weight_map >= KEY_WEIGHT
                ref_dets = detector.detect(img) if detector else []
                for name, rec in recs.items():
                    out = rec.reconstruct(decoded)
                    sc = results.setdefault((s.group, bpp, name), Scores())
                    sc.add("bpp", frame.payload_bytes() * 8 / (h * w))
                    for k, v in frame_metrics(img, out, key).items():
                        sc.add(k, v)
                    if detector:
                        m, n = recall(ref_dets, detector.detect(out))
                        sc.found += m
                        sc.total += n
                    if name == "composition" and s.scored.index(i) == 0:
                        sc.values.setdefault("_example", []).append((s.name, img, decoded))
    bar.close()
    return results


def _clear(rec) -> None:
    if hasattr(rec, "reset"):
        rec.reset()
    up = getattr(rec, "upsampler", None)
    if isinstance(up, SharedPrior):
        up.clear()


def time_per_frame(recs: dict, streams: list[Stream], runs: int
                   ) -> dict[str, tuple[float, float]]:
    """Median seconds per 640x480 frame for each backend at 0.06 bpp: (cold, stream).

    cold: the held-out frame with the smallest coarse picture (a still), every state
    cleared before each run (the prior runs, no previous frame: the worst case);
    stream: ``runs`` consecutive held-out frames
    (the prior's cache and the previous frame as the decoder node has them).
    """
    from semcomm_ros.codec import CompositionDecoder, SemanticEncoder
    from semcomm_ros.node_config import codec_config
    frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_AREA)
              for f in streams[0].frames[:runs + 1]]
    enc, dec = SemanticEncoder(codec_config()), CompositionDecoder(codec_config())
    decs = [dec.decode(enc.encode(img, byte_budget=int(0.06 * 640 * 480 / 8), sequence=i))
            for i, img in enumerate(frames)]
    # cold: the frame with the smallest coarse picture (a still: the prior has work to do)
    worst = min(decs, key=lambda d: 1 << 30 if d.coarse is None else d.coarse.shape[1])
    out = {}
    for name, rec in recs.items():
        cold, stream = [], []
        for _ in range(runs + 1):
            _clear(rec)
            t0 = time.perf_counter()
            rec.reconstruct(worst)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            cold.append(time.perf_counter() - t0)
        _clear(rec)
        for d in decs:
            t0 = time.perf_counter()
            rec.reconstruct(d)
            stream.append(time.perf_counter() - t0)
        out[name] = (float(np.median(cold[1:])), float(np.median(stream[1:])))
    return out


# -- report -----------------------------------------------------------------------
def machine() -> str:
    """The shared machine line, plus GPU and load average."""
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) \
        if hasattr(os, "getloadavg") else ""
    return (f"{base_machine()}{gpu}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads){load}")


COLUMNS = [("bpp", "bpp", 3), ("psnr", "PSNR", 2), ("ssim", "SSIM", 4), ("msssim", "MS-SSIM", 4),
           ("gmsd", "GMSD↓", 4), ("vif", "VIF", 4), ("psnr_key", "PSNR key", 2),
           ("psnr_bg", "PSNR bg", 2), ("ssim_bg", "SSIM bg", 4), ("gmsd_bg", "GMSD bg↓", 4)]


def _fmt(v: float, d: int) -> str:
    return "–" if np.isnan(v) else f"{v:.{d}f}"


def table(results: dict, group: str, budgets: list[float]) -> list[str]:
    """One markdown table: budgets x methods, medians, recall and deltas."""
    head = "| target bpp | method | " + " | ".join(c[1] for c in COLUMNS) + \
        " | recall | ΔPSNR | ΔSSIM |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 5)]
    for bpp in budgets:
        base = results.get((group, bpp, "composition"))
        for name in METHODS:
            sc = results.get((group, bpp, name))
            if sc is None:
                continue
            cells = [_fmt(sc.median(k), d) for k, _, d in COLUMNS]
            rec = f"{sc.found}/{sc.total}" if sc.total else "–"
            dp = sc.median("psnr") - base.median("psnr")
            ds = sc.median("ssim") - base.median("ssim")
            lines.append(f"| {bpp} | {name} | " + " | ".join(cells) +
                         f" | {rec} | {dp:+.2f} | {ds:+.4f} |")
    return lines


def target_lines(results: dict, groups: list[str], budgets: list[float],
                 times: dict[str, float]) -> list[str]:
    """The issue's targets, checked per group and budget."""
    lines = []

    def ok(flag: bool) -> str:
        return "**met**" if flag else "**missed**"
    for g in groups:
        low = [b for b in budgets if b <= 0.1]
        dps = [results[(g, b, "fidelity")].median("psnr") - results[(g, b, "composition")]
               .median("psnr") for b in low]
        dss = [results[(g, b, "fidelity")].median("ssim") - results[(g, b, "composition")]
               .median("ssim") for b in low]
        flag = all(d >= 0.5 for d in dps) and all(d > 0 for d in dss)
        lines.append(f"- {g}, fidelity end, <= 0.1 bpp: ΔPSNR " +
                     ", ".join(f"{d:+.2f}" for d in dps) + " dB (target >= +0.5), ΔSSIM " +
                     ", ".join(f"{d:+.4f}" for d in dss) + f" (target > 0): {ok(flag)}")
        gm = [results[(g, b, "realism")].median("gmsd_bg") <
              results[(g, b, "composition")].median("gmsd_bg") for b in budgets]
        kp = [results[(g, b, "realism")].median("psnr_key") -
              results[(g, b, "composition")].median("psnr_key") for b in budgets]
        kp = [d for d in kp if not np.isnan(d)]
        rc = [(results[(g, b, "realism")].found, results[(g, b, "composition")].found)
              for b in budgets]
        key = (f"key-object PSNR min Δ {min(kp):+.2f} dB (>= -0.2): {ok(min(kp) >= -0.2)}"
               if kp else "key-object PSNR: n/a (no key objects in this group)")
        lines.append(f"- {g}, realism end: background GMSD better at {sum(gm)}/{len(gm)} "
                     f"budgets: {ok(all(gm))}; {key}; recall, objects found again "
                     f"(realism, composition) per budget {rc}: "
                     f"{ok(all(a >= b for a, b in rc))}")
    if times:
        cold, stream = times["fidelity"]
        lines.append(f"- speed, fidelity end, 640x480 on this machine: {cold:.3f} s per frame "
                     f"with a new coarse picture and no previous frame, {stream:.3f} s median "
                     f"over a stream (target <= 0.5 s on 2 CPU cores): {ok(cold <= 0.5)} "
                     f"(worst case) / {ok(stream <= 0.5)} (stream)")
    return lines


def examples(results: dict, out_dir: Path, recs: dict, budget: float) -> list[str]:
    """Side-by-side PNGs (original | composition | prior | fidelity | realism) per group."""
    names = []
    for (g, b, name), sc in results.items():
        if name != "composition" or b != budget or "_example" not in sc.values:
            continue
        sname, img, decoded = sc.values["_example"][0]
        row = [img] + [recs[m].reconstruct(decoded) for m in METHODS]
        h, w = img.shape[:2]
        s = min(1.0, 480 / w)
        row = [cv2.resize(x, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
               for x in row]
        for x, label in zip(row, ("original", *METHODS), strict=True):
            cv2.putText(x, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2)
        slug = "_".join(w.strip("()") for w in g.split()[:2]).replace("-", "")
        fname = f"decoder_{slug}_{b}.png"  # one file per group
        cv2.imwrite(str(out_dir / fname), np.concatenate(row, axis=1))
        names.append((g, sname, fname))
    return [f"![{g}: {s}]({f})  \n*{g}, {s}, target {budget} bpp: original | composition | "
            f"prior | fidelity | realism*\n" for g, s, f in names]


def rate_plot(results: dict, groups: list[str], budgets: list[float], out: Path) -> str:
    """PSNR and background GMSD against bpp, one line per method and group."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for g in groups:
        for name in METHODS:
            xs = [results[(g, b, name)].median("bpp") for b in budgets]
            for ax, k in zip(axes, ("psnr", "gmsd_bg"), strict=True):
                ax.plot(xs, [results[(g, b, name)].median(k) for b in budgets], "o-",
                        label=f"{g.split()[0]} {name}")
    axes[0].set(xlabel="bpp", ylabel="PSNR (dB)", title="PSNR (higher is better)")
    axes[1].set(xlabel="bpp", ylabel="GMSD", title="background GMSD (lower is better)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out.name


def run(args: argparse.Namespace) -> int:
    """Entry point of ``semcomm bench decoder``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.time()
    streams = held_out_streams(Path(args.data_dir), args.every, args.images, args.max_frames)
    recs = make_backends(args)
    results = evaluate(streams, args.bpp, recs, not args.no_detect)
    times = {} if args.no_timing else time_per_frame(recs, streams, args.runs)
    groups = list(dict.fromkeys(s.group for s in streams))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = recs["fidelity"].pipeline.model.spec
    prior = recs["prior"].upsampler.name
    ck = args.checkpoint or "models/embedded_decoder (shipped)"
    lines = [
        "# Benchmark: diffusion reconstruction (embedded decoder) vs composition", "",
        f"- command: `{' '.join(['semcomm bench decoder'] + sys.argv[3:])}`"
        if sys.argv[1:3] == ["bench", "decoder"] else
        f"- command: `{' '.join(sys.argv)}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- checkpoint: {ck}; {recs['fidelity'].pipeline.model.num_parameters() / 1e6:.2f}M "
        f"parameters, patch {spec.patch}, trained {spec.training.get('steps', '?')} steps "
        f"on {spec.training.get('device', '?')}",
        f"- fidelity end: {FIDELITY_END}; realism end: {REALISM_END} (docs/reconstruction.md); "
        f"prior: {prior} (docs/models/waifu2x_prior.md); temporal: "
        f"{recs['fidelity'].cfg.temporal} (temporal checkpoint: {spec.temporal}); every fed "
        "video frame is reconstructed (the previous frame is the real previous one), every "
        "`--every`-th is scored",
        "- methods: composition = the codec's picture; prior = composition with the coarse "
        "picture upsampled by the prior, no diffusion; fidelity / realism = the embedded "
        "backend (prior + diffusion) at the two ends of the knob",
        f"- data: {', '.join(f'{s.name} ({len(s.scored)} scored)' for s in streams[:3])}"
        f"{' ...' if len(streams) > 3 else ''}; {len(streams)} streams",
        "- budgets: target bits per pixel of the whole frame (the `bpp` column is what the "
        "codec used); every number is the median over scored frames; key = decoded weight "
        f">= {KEY_WEIGHT}, bg = the rest",
        "- recall: objects found by the configured detector (the pretrained COCO detector, "
        "NanoDet, unless YOLO weights are given) on the original and found again on the "
        "reconstruction (same label, IoU >= 0.5), summed",
        f"- run time: {time.time() - t_start:.0f} s", ""]
    if times:
        lines += ["## Time per 640x480 frame", "",
                  "cold: every state cleared before each run (a new coarse picture, no "
                  "previous frame: the worst case); stream: consecutive held-out frames at "
                  "0.06 bpp as the decoder node sees them (prior cache, previous frame).", "",
                  "| method | cold s/frame | stream s/frame | frames/s (cold) |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {c:.3f} | {st:.3f} | {1 / max(c, 1e-9):.1f} |"
                  for k, (c, st) in times.items()]
        lines += [""]
    lines += ["## Targets (from issue 12)", ""] + target_lines(results, groups, args.bpp, times)
    for g in groups:
        lines += ["", f"## {g}", ""] + table(results, g, args.bpp)
    plot = rate_plot(results, groups, args.bpp, out.parent / "decoder_rate.png")
    lines += ["", "## Plots and examples", "", f"![rate-quality]({plot})", ""]
    lines += examples(results, out.parent, recs, args.bpp[min(1, len(args.bpp) - 1)])
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``semcomm bench decoder``."""
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="opencv-doc sample data")
    p.add_argument("--images", nargs="*", default=[], help="more unseen images or folders")
    p.add_argument("--bpp", type=float, nargs="+", default=list(DEFAULT_BPP),
                   help="target bits per pixel")
    p.add_argument("--every", type=int, default=3, help="score every n-th held-out frame")
    p.add_argument("--max-frames", type=int, default=93, help="held-out video frames fed")
    p.add_argument("--checkpoint", default="", help="embedded checkpoint (default: shipped)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--runs", type=int, default=10, help="timing repetitions")
    p.add_argument("--no-detect", action="store_true", help="skip the recall metric")
    p.add_argument("--no-timing", action="store_true", help="skip the timing")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="markdown report to write")
    p.add_argument("--prior", default="waifu2x", choices=("waifu2x", "bicubic", "none"),
                   help="upsampler of the coarse picture (reconstruction.prior)")
    p.add_argument("--no-temporal", action="store_true",
                   help="no previous-frame conditioning / reuse (reconstruction.temporal)")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``decoder`` under ``semcomm bench`` (``args.func(args)`` runs it)."""
    p = subparsers.add_parser("decoder", help="embedded diffusion decoder vs composition",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m semcomm_ros.bench.decoder``."""
    p = argparse.ArgumentParser(prog="semcomm bench decoder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
