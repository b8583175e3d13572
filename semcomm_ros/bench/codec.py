"""``semcomm bench codec``: rate, quality, speed and loss resilience of the semantic codec.

For each clip (video, image folder or rosbag2 bag; by default ``vtest.avi`` and
``box.mp4`` from the opencv-doc sample data) at 10 fps and each budget
(kbit/s), it codes the same frames with:

* ``ours-region``: the semantic codec, region coder (WebP objects + reused background);
* ``ours-video``: the semantic codec, libx264 coder steered by per-macroblock
  quantiser offsets from the weight map (ROI);
* ``ours-video-r5``: the same with a 5-frame refresh period instead of 10 (faster
  healing after loss, fewer bits for the picture);
* ``ours-video-prefilter`` / ``ours-video-plain``: the same steered by blurring
  low-weight regions / not steered (to measure what each steering does);
* ``jpeg`` / ``webp``: per-frame still images at the highest quality within the
  per-frame budget (what ``compressed_image_transport`` sends);
* ``x264`` / ``x264-ir``: libx264 zero-latency at the same bitrate, key frames
  every 3 s, without / with intra refresh (what ``ffmpeg_image_transport`` sends).

The detector runs once per frame (OpenCV fallback unless ``--detector yolo``)
and its output is replayed into every run of the semantic codec, so the
detector's time is counted once and every codec is measured on the same
key-object regions: objects whose weight reaches ``weights.key_threshold``
(else the highest-weight object). A loss test drops 2 % and 10 % of the
messages (same seed for every codec) at one budget. Results go to
``<out>/codec.md``, ``<out>/codec.json`` and ``<out>/codec_*.png``.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from semcomm_ros.bench.report import machine

if TYPE_CHECKING:
    import numpy as np

    from semcomm_ros.bench.metrics import Quality
    from semcomm_ros.codec import CodecConfig
    from semcomm_ros.codec.detect import Detection



log = logging.getLogger("semcomm_ros.bench.codec")

DATA = Path(__file__).resolve().parents[2] / "data" / "opencv-doc" / "data"
DEFAULT_CLIPS = [str(DATA / "vtest.avi"), str(DATA / "box.mp4")]
DEFAULT_BUDGETS = [30.0, 100.0, 200.0, 500.0, 2000.0]
CODECS = ["ours-region", "ours-video", "ours-video-r5", "ours-video-prefilter", "ours-video-plain",
          "jpeg", "webp", "x264", "x264-ir"]
BASELINE_GOP = 30  # frames between key frames / refresh periods of the x264 baselines


# --------------------------------------------------------------------------- sources

@dataclass
class Clip:
    """Frames of one source at the benchmark rate, with the replayed detections."""

    name: str
    frames: list[np.ndarray]
    detections: list[list[Detection]] = field(default_factory=list)
    key_masks: list[np.ndarray] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)


def load_frames(path: str, count: int, fps: float) -> list[np.ndarray]:
    """``count`` frames at ``fps`` from a video (subsampled by its own rate), folder or bag."""
    import cv2

    p = Path(path)
    frames: list[np.ndarray] = []
    if p.is_file() and p.suffix.lower() in {".avi", ".mp4", ".mkv", ".mov", ".webm"}:
        cap = cv2.VideoCapture(str(p))
        if not cap.isOpened():
            raise SystemExit(f"cannot open video {path}")
        src_fps = cap.get(cv2.CAP_PROP_FPS) or fps
        step = max(1, round(src_fps / fps))
        index = 0
        while len(frames) < count:
            ok, image = cap.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(image)
            index += 1
        cap.release()
    else:
        from semcomm_ros.io.frame_sources import open_source

        for item in open_source(path, fps=fps):
            frames.append(item.image)
            if len(frames) >= count:
                break
    if not frames:
        raise SystemExit(f"no frames in {path}")
    height, width = frames[0].shape[:2]
    return [f if f.shape[:2] == (height, width) else cv2.resize(f, (width, height))
            for f in frames]


def replay_detector(detections: list[list[Detection]]):
    """A detector that returns precomputed detections in order (timed once, replayed)."""
    from semcomm_ros.codec.detect import Detector

    class ReplayDetector(Detector):
        name = "replay"

        def __init__(self) -> None:
            self.index = 0

        def detect(self, image: np.ndarray) -> list[Detection]:
            out = detections[self.index % len(detections)]
            self.index += 1
            return out

    return ReplayDetector()


def detect_clip(clip: Clip, cfg: CodecConfig) -> None:
    """Run the configured detector over the clip; fill detections, key masks and times."""
    import numpy as np

    from semcomm_ros.codec.detect import make_detector
    from semcomm_ros.codec.weights import build_weight_map, parse_priorities

    detector = make_detector(cfg.detector)
    priorities = parse_priorities(cfg.weights.class_priorities)
    for image in clip.frames:
        start = time.perf_counter()
        dets = detector.detect(image)
        clip.detect_ms.append((time.perf_counter() - start) * 1000)
        height, width = image.shape[:2]
        _, weights = build_weight_map(dets, height, width, cfg.weights, priorities)
        key = [d for d, w in zip(dets, weights) if w >= cfg.weights.key_threshold]
        if not key and dets:
            key = [dets[int(np.argmax(weights))]]
        mask = np.zeros((height, width), bool)
        for det in key:
            mask |= det.full_mask(height, width)
        clip.detections.append(dets)
        clip.key_masks.append(mask)


# --------------------------------------------------------------------------- codecs

@dataclass
class Coded:
    """One codec's output for a clip at one budget."""

    payloads: list = field(default_factory=list)   # whatever its decoder takes
    sizes: list[int] = field(default_factory=list)
    enc_ms: list[float] = field(default_factory=list)


STILL_SCALES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.18, 0.125)


def encode_still(frames: list[np.ndarray], budget: int, codec: str) -> Coded:
    """Per-frame JPEG or WebP at the highest quality within the budget.

    At full size when possible; when not even quality 1 fits, the largest
    downscaled size that fits (the receiver upscales).
    """
    from semcomm_ros.codec.region import fit_quality, resize_to

    q_max = 100 if codec == "jpeg" else 99
    out = Coded()
    for image in frames:
        start = time.perf_counter()
        height, width = image.shape[:2]
        coded = None
        for scale in STILL_SCALES:
            small = resize_to(image, max(8, round(width * scale)), max(8, round(height * scale)))
            coded = fit_quality(small, codec, budget, 1, q_max, max_tries=5, overhead=0)
            if coded is not None:
                break
        if coded is None:  # nothing fits: the smallest version at quality 1, over budget
            coded = fit_quality(small, codec, 1 << 30, 1, 1, overhead=0)
        out.enc_ms.append((time.perf_counter() - start) * 1000)
        out.payloads.append((coded.data, width, height))
        out.sizes.append(len(coded.data))
    return out


def decode_still(payloads: list, lost: list[bool]) -> tuple[list[np.ndarray], list[float]]:
    """Decode per-frame stills; a lost frame shows the previous picture."""
    import cv2
    import numpy as np

    images, times, last = [], [], None
    for data, gone in zip(payloads, lost):
        start = time.perf_counter()
        if not gone:
            blob, width, height = data
            last = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
            if last.shape[:2] != (height, width):
                last = cv2.resize(last, (width, height), interpolation=cv2.INTER_LINEAR)
        times.append((time.perf_counter() - start) * 1000)
        images.append(last)
    return images, times


def encode_x264(frames: list[np.ndarray], budget: int, fps: float, intra_refresh: bool) -> Coded:
    """libx264 zero-latency at ``budget`` bytes/frame (one-frame VBV), as a ROS user would."""
    import av
    import numpy as np

    height, width = frames[0].shape[:2]
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, round(fps)), Fraction(round(fps))
    ctx.bit_rate = int(budget * 8 * fps)
    ctx.thread_count = 2
    ctx.options = {"preset": "veryfast", "tune": "zerolatency", "bufsize": str(budget * 8),
                   "maxrate": str(int(budget * 8 * fps)),
                   "x264-params": f"keyint={BASELINE_GOP}:min-keyint={BASELINE_GOP}:bframes=0:"
                                  f"scenecut=0:rc-lookahead=0:repeat-headers=1:"
                                  f"intra-refresh={int(intra_refresh)}"}
    ctx.open()
    out = Coded()
    for index, image in enumerate(frames):
        start = time.perf_counter()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:ctx.height, :ctx.width]),
                                           format="bgr24").reformat(format="yuv420p")
        frame.pts = index
        data = b"".join(bytes(p) for p in ctx.encode(frame))
        out.enc_ms.append((time.perf_counter() - start) * 1000)
        out.payloads.append(data)
        out.sizes.append(len(data))
    return out


def decode_x264(payloads: list, lost: list[bool], shape: tuple[int, int]
                ) -> tuple[list[np.ndarray], list[float]]:
    """Decode the packets in order, skipping lost ones; no picture: the previous one."""
    import av
    import cv2
    import numpy as np

    ctx = av.CodecContext.create("h264", "r")
    ctx.open()
    height, width = shape
    grey = np.full((height, width, 3), 128, np.uint8)
    images, times, last = [], [], grey
    for data, gone in zip(payloads, lost):
        start = time.perf_counter()
        if not gone and data:
            try:
                pictures = ctx.decode(av.Packet(data))
            except av.error.FFmpegError:
                pictures = []
            if pictures:
                picture = pictures[-1].to_ndarray(format="bgr24")
                last = cv2.copyMakeBorder(picture, 0, height - picture.shape[0], 0,
                                          width - picture.shape[1], cv2.BORDER_REPLICATE)
        times.append((time.perf_counter() - start) * 1000)
        images.append(last)
    return images, times


def ours_config(name: str, base: CodecConfig, fps: float) -> CodecConfig:
    """The codec configuration of one of our variants."""
    cfg = copy.deepcopy(base)
    cfg.rate.frame_rate = fps
    if name.startswith("ours-video"):
        cfg.texture.coder = "video"
        cfg.texture.video_steering = ("none" if name.endswith("plain") else "prefilter"
                                      if name.endswith("prefilter") else "roi")
        if name.endswith("-r5"):
            cfg.texture.video_gop = 5
    else:
        cfg.texture.coder = "region"
    return cfg


def encode_ours(clip: Clip, budget: int, cfg: CodecConfig) -> Coded:
    """The semantic codec with replayed detections; payloads are the packed wire bytes."""
    from semcomm_ros.codec import SemanticEncoder
    from semcomm_ros.codec.bitstream import pack

    enc = SemanticEncoder(cfg, detector=replay_detector(clip.detections))
    out = Coded()
    for index, image in enumerate(clip.frames):
        start = time.perf_counter()
        frame = enc.encode(image, byte_budget=budget, sequence=index)
        data = pack(frame, cfg.limits)
        out.enc_ms.append((time.perf_counter() - start) * 1000 + clip.detect_ms[index])
        out.payloads.append(data)
        out.sizes.append(len(data))
    return out


def decode_ours(payloads: list, lost: list[bool], cfg: CodecConfig
                ) -> tuple[list[np.ndarray], list[float]]:
    """Unpack and compose; a lost frame is concealed with the last picture."""
    from semcomm_ros.codec import CompositionDecoder
    from semcomm_ros.codec.bitstream import unpack

    dec = CompositionDecoder(cfg)
    images, times = [], []
    for data, gone in zip(payloads, lost):
        start = time.perf_counter()
        out = dec.conceal() if gone else dec.decode(unpack(data, cfg.limits))
        times.append((time.perf_counter() - start) * 1000)
        images.append(out.image if out is not None else None)
    return images, times


# --------------------------------------------------------------------------- runs

@dataclass
class Result:
    """Aggregates of one codec on one clip at one budget (quality: means over frames)."""

    clip: str
    codec: str
    budget_kbps: float
    budget_bytes: int
    kbps: float
    bpp: float
    within_budget: float
    max_over: float
    psnr: float
    psnr_key: float
    psnr_bg: float
    ssim: float
    ssim_key: float
    ssim_bg: float
    enc_ms: float
    dec_ms: float


@dataclass
class LossResult:
    """Key-object quality and recovery of one codec with a fraction of messages lost."""

    clip: str
    codec: str
    budget_kbps: float
    loss: float
    psnr_key: float
    psnr_key_clean: float
    events: int
    recover_max: int
    recover_mean: float


def _mean(values: list[float]) -> float:
    import numpy as np

    arr = np.asarray(values, float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def run_codec(clip: Clip, name: str, budget: int, fps: float, base: CodecConfig
              ) -> tuple[Coded, callable]:
    """Encode the clip; return the coded stream and its decode(lost) function."""
    shape = clip.frames[0].shape[:2]
    if name in ("jpeg", "webp"):
        return encode_still(clip.frames, budget, name), lambda p, lost: decode_still(p, lost)
    if name.startswith("x264"):
        coded = encode_x264(clip.frames, budget, fps, intra_refresh=name.endswith("-ir"))
        return coded, lambda p, lost: decode_x264(p, lost, shape)
    cfg = ours_config(name, base, fps)
    return encode_ours(clip, budget, cfg), lambda p, lost: decode_ours(p, lost, cfg)


def evaluate(clip: Clip, images: list[np.ndarray], with_ssim: bool = True) -> list[Quality]:
    """Per-frame quality of decoded images against the source frames."""
    import numpy as np

    from semcomm_ros.bench.metrics import quality

    out = []
    for ref, img, key in zip(clip.frames, images, clip.key_masks):
        if img is None:
            img = np.full_like(ref, 128)
        out.append(quality(ref, img, key, with_ssim))
    return out


def summarise(clip: Clip, name: str, kbps: float, budget: int, coded: Coded,
              scores: list[Quality], dec_ms: list[float], fps: float) -> Result:
    """Aggregate per-frame numbers into one table row."""
    import numpy as np

    from semcomm_ros.bench.metrics import nanmedian

    height, width = clip.frames[0].shape[:2]
    sizes = np.asarray(coded.sizes, float)
    return Result(
        clip=clip.name, codec=name, budget_kbps=kbps, budget_bytes=budget,
        kbps=float(sizes.mean() * 8 * fps / 1000), bpp=float(sizes.mean() * 8 / (width * height)),
        within_budget=float((sizes <= budget).mean()),
        max_over=float(max(0.0, sizes.max() / budget - 1.0)),
        psnr=_mean([s.psnr for s in scores]), psnr_key=_mean([s.psnr_key for s in scores]),
        psnr_bg=_mean([s.psnr_bg for s in scores]), ssim=_mean([s.ssim for s in scores]),
        ssim_key=_mean([s.ssim_key for s in scores]), ssim_bg=_mean([s.ssim_bg for s in scores]),
        enc_ms=nanmedian(coded.enc_ms), dec_ms=nanmedian(dec_ms))


def loss_pattern(count: int, fraction: float, seed: int) -> list[bool]:
    """Which frames' messages are dropped (the same for every codec)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lost = list(rng.random(count) < fraction)
    lost[0] = False  # every decoder gets a start
    return lost


def run_clip(clip: Clip, args: argparse.Namespace, base: CodecConfig
             ) -> tuple[list[Result], list[LossResult]]:
    """All codecs x budgets on one clip, plus the loss test at ``args.loss_budget``."""
    import numpy as np

    from semcomm_ros.bench.metrics import frames_to_recover

    results, losses = [], []
    clean = [False] * len(clip.frames)
    for kbps in args.budgets:
        budget = int(kbps * 1000 / 8 / args.fps)
        for name in args.codecs:
            coded, decode = run_codec(clip, name, budget, args.fps, base)
            images, dec_ms = decode(coded.payloads, clean)
            scores = evaluate(clip, images)
            results.append(summarise(clip, name, kbps, budget, coded, scores, dec_ms, args.fps))
            log.info("%s %s %.0f kbit/s: %s", clip.name, name, kbps, results[-1])
            if kbps == args.loss_budget:
                key_clean = [s.psnr_key for s in scores]
                for fraction in args.loss:
                    lost = loss_pattern(len(clip.frames), fraction, args.seed)
                    lossy = evaluate(clip, decode(coded.payloads, lost)[0], with_ssim=False)
                    key_lossy = [s.psnr_key for s in lossy]
                    events = frames_to_recover(key_lossy, key_clean, lost)
                    losses.append(LossResult(
                        clip.name, name, kbps, fraction,
                        _mean(key_lossy),  # every frame: a lost one shows the last picture
                        _mean(key_clean), len(events), max(events, default=0),
                        float(np.mean(events)) if events else 0.0))
    return results, losses


# --------------------------------------------------------------------------- report

def plot(results: list[Result], out: Path) -> list[str]:
    """Rate-quality plots, one PNG per clip; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for clip in sorted({r.clip for r in results}):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for codec in dict.fromkeys(r.codec for r in results):
            rows = sorted((r for r in results if r.clip == clip and r.codec == codec),
                          key=lambda r: r.kbps)
            style = "-o" if codec.startswith("ours") else "--s"
            for ax, attr, title in zip(axes, ("psnr_key", "psnr_bg", "ssim"),
                                       ("key-object PSNR (dB)", "background PSNR (dB)",
                                        "full-frame SSIM")):
                ax.plot([r.kbps for r in rows], [getattr(r, attr) for r in rows], style,
                        label=codec, markersize=4)
                ax.set_xscale("log")
                ax.set_xlabel("delivered kbit/s (10 fps)")
                ax.set_title(f"{clip}: {title}")
                ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        name = f"codec_{Path(clip).stem}.png"
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        names.append(name)
    return names


def _fmt(value: float, digits: int = 2) -> str:
    import numpy as np

    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.{digits}f}"


def targets(results: list[Result], losses: list[LossResult], clips: list[Clip]) -> list[str]:
    """The issue's targets, checked against the measurements (pass / MISS per line)."""
    lines = ["| target | measured | verdict |", "|---|---|---|"]

    def row(text: str, measured: str, ok: bool) -> None:
        lines.append(f"| {text} | {measured} | {'pass' if ok else 'MISS'} |")

    for codec in ("ours-region", "ours-video", "ours-video-r5"):
        mine = [r for r in results if r.codec == codec]
        if not mine:
            continue
        within = min(r.within_budget for r in mine)
        over = max(r.max_over for r in mine)
        row(f"{codec}: >= 99.5 % of frames within budget, none > 5 % over",
            f"worst run {within * 100:.1f} % within, max over {over * 100:.1f} %",
            within >= 0.995 and over <= 0.05)
    for clip in sorted({r.clip for r in results}):
        rows = [r for r in results if r.clip == clip]
        # the budget nearest 0.05 bits per pixel
        webp = [r for r in rows if r.codec == "webp"]
        pixels = next(c.frames[0].shape[0] * c.frames[0].shape[1] for c in clips
                      if c.name == clip)
        if webp:
            near = min(webp, key=lambda r: abs(r.budget_bytes * 8 / pixels - 0.05)).budget_kbps
            at = {r.codec: r for r in rows if r.budget_kbps == near}
            for codec in ("ours-region", "ours-video", "ours-video-r5"):
                if codec in at and "jpeg" in at:
                    best_still = max(at["jpeg"].psnr_key, at["webp"].psnr_key)
                    gain = at[codec].psnr_key - best_still
                    row(f"{clip} @ {near:g} kbit/s (~0.05 bpp): {codec} key PSNR >= best "
                        "still + 3 dB; SSIM >= WebP",
                        f"+{gain:.2f} dB; SSIM {at[codec].ssim:.3f} vs {at['webp'].ssim:.3f}",
                        gain >= 3.0 and at[codec].ssim >= at["webp"].ssim)
        need = 0.0 if any(c.name == clip and "vtest" in clip for c in clips) else 1.0
        for codec in ("ours-region", "ours-video", "ours-video-r5"):
            diffs = [(r.budget_kbps, r.psnr_key - next(
                x.psnr_key for x in rows if x.codec == "x264" and x.budget_kbps == r.budget_kbps))
                for r in rows if r.codec == codec and any(
                    x.codec == "x264" for x in rows)]
            if diffs:
                worst = min(d for _, d in diffs)
                row(f"{clip}: {codec} key PSNR >= x264 {'+ 1 dB ' if need else ''}at every budget",
                    ", ".join(f"{k:g}: {d:+.2f}" for k, d in diffs), worst >= need)
    for loss in sorted({x.loss for x in losses}):
        for clip in sorted({x.clip for x in losses}):
            at = {x.codec: x for x in losses if x.loss == loss and x.clip == clip}
            for codec in ("ours-region", "ours-video", "ours-video-r5"):
                if codec in at and "x264" in at:
                    gain = at[codec].psnr_key - at["x264"].psnr_key
                    # the PSNR target is set at 10 % loss; at lower loss only healing
                    target = "key PSNR >= x264 + 3 dB, " if loss >= 0.1 else ""
                    row(f"{clip}, {loss * 100:g} % lost: {codec} {target}"
                        "every loss healed within 10 frames",
                        f"{gain:+.2f} dB, worst recovery {at[codec].recover_max} frames",
                        (gain >= 3.0 if loss >= 0.1 else True) and at[codec].recover_max <= 10)
    return lines


def write_report(results: list[Result], losses: list[LossResult], clips: list[Clip],
                 args: argparse.Namespace, command: str, yolo_ms: float | None,
                 wall_s: float) -> Path:
    """Write codec.md, codec.json and the plots under ``args.out``."""
    import numpy as np

    from semcomm_ros.bench.metrics import nanmedian

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pngs = plot(results, out)
    (out / "codec.json").write_text(json.dumps(
        {"results": [asdict(r) for r in results], "loss": [asdict(x) for x in losses]},
        indent=1))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        "# Codec benchmark",
        "",
        f"- machine: {machine()}",
        f"- date: {date}; wall time {wall_s / 60:.1f} min",
        f"- command: `{command}`",
        f"- frames: {args.frames} per clip at {args.fps:g} fps; detector: "
        f"{args.detector} (run once per frame, replayed into every run of our codec)",
        "- quality: means over frames; PSNR on BGR (scikit-image), SSIM on luma "
        "(scikit-image SSIM map, averaged over the region); key region = objects with "
        "weight >= key_threshold (else the highest-weight object) from the detector above; "
        "times: medians per frame (ours: detector + encoder)",
        f"- baselines: jpeg / webp at the highest quality within each frame's budget (at "
        f"full size, else the largest of the sizes {STILL_SCALES} that fits: upscaled "
        "at the receiver); "
        f"x264 = libx264 veryfast zerolatency, one-frame VBV, key frame every "
        f"{BASELINE_GOP} frames; x264-ir = the same with intra refresh",
        "",
        "Raw numbers: `codec.json`. Regenerate with the command above.",
        "",
        "## Targets of issue 3",
        "",
        *targets(results, losses, clips),
        "",
    ]
    for clip in clips:
        h, w = clip.frames[0].shape[:2]
        md += [f"## {clip.name} ({w}x{h})", "",
               f"Detector (median): {nanmedian(clip.detect_ms):.1f} ms/frame; "
               f"key region covers {np.mean([m.mean() for m in clip.key_masks]) * 100:.1f} % "
               "of the pixels on average.", "",
               "| codec | budget kbit/s | kbit/s | bpp | in budget | max over | PSNR | "
               "PSNR key | PSNR bg | SSIM | SSIM key | SSIM bg | enc ms | dec ms |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            if r.clip != clip.name:
                continue
            md.append(f"| {r.codec} | {r.budget_kbps:g} | {r.kbps:.1f} | {r.bpp:.3f} | "
                      f"{r.within_budget * 100:.1f} % | {r.max_over * 100:.1f} % | "
                      f"{_fmt(r.psnr)} | {_fmt(r.psnr_key)} | {_fmt(r.psnr_bg)} | "
                      f"{_fmt(r.ssim, 3)} | {_fmt(r.ssim_key, 3)} | {_fmt(r.ssim_bg, 3)} | "
                      f"{r.enc_ms:.1f} | {r.dec_ms:.1f} |")
        png = f"codec_{Path(clip.name).stem}.png"
        if png in pngs:
            md += ["", f"![rate-quality {clip.name}]({png})"]
        md.append("")
    if losses:
        md += ["## Loss test", "",
               f"Messages dropped at random (seed {args.seed}, same frames for every codec) at "
               f"{args.loss_budget:g} kbit/s. Key PSNR: mean over all frames, a lost frame "
               "showing the previous picture (what the operator sees); recovery = "
               "frames after a loss until key-object PSNR is within 0.5 dB of the loss-free "
               "decode (a lost frame itself shows the previous picture).", "",
               "| clip | codec | lost | key PSNR | key PSNR no loss | loss events | "
               "worst recovery | mean recovery |", "|---|---|---|---|---|---|---|---|"]
        for x in losses:
            md.append(f"| {x.clip} | {x.codec} | {x.loss * 100:g} % | {_fmt(x.psnr_key)} | "
                      f"{_fmt(x.psnr_key_clean)} | {x.events} | {x.recover_max} | "
                      f"{x.recover_mean:.1f} |")
        md.append("")
    md += ["## Speed", ""]
    for clip in clips:
        h, w = clip.frames[0].shape[:2]
        for codec in ("ours-region", "ours-video"):
            rows = [r for r in results if r.clip == clip.name and r.codec == codec]
            if rows:
                enc = float(np.median([r.enc_ms for r in rows]))
                dec = float(np.median([r.dec_ms for r in rows]))
                md.append(f"- {clip.name} ({w}x{h}), {codec}: encoder (detector included) "
                          f"{enc:.1f} ms = {1000 / enc:.1f} frames/s; composition decoder "
                          f"{dec:.1f} ms = {1000 / max(dec, 1e-3):.0f} frames/s "
                          "(median over budgets of per-budget medians)")
    if yolo_ms is not None:
        md.append(f"- YOLO (yolov8n-seg, random weights from its YAML, CPU, 640 px): "
                  f"{yolo_ms:.0f} ms/frame median, on its own")
    (out / "codec.md").write_text("\n".join(md) + "\n")
    return out / "codec.md"


def time_yolo(frames: list[np.ndarray], count: int = 5) -> float | None:
    """Median time of yolov8n-seg (random weights, built offline) on a few frames."""
    import numpy as np

    from semcomm_ros.codec.config import DetectorConfig
    from semcomm_ros.codec.detect import DetectorError, YoloDetector

    try:
        det = YoloDetector(DetectorConfig(backend="yolo", model="yolov8n-seg.yaml"))
    except DetectorError as exc:
        log.warning("YOLO timing skipped: %s", exc)
        return None
    det.detect(frames[0])  # warm-up
    times = []
    for image in frames[1:count + 1]:
        start = time.perf_counter()
        det.detect(image)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


# --------------------------------------------------------------------------- CLI

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``semcomm bench codec``."""
    p.add_argument("--clip", action="append", default=None,
                   help="video, image folder or rosbag2 bag (repeatable; default: vtest.avi "
                        "and box.mp4 from the opencv-doc sample data)")
    p.add_argument("--frames", type=int, default=40, help="frames per clip (default 40)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--budgets", type=float, nargs="+", default=DEFAULT_BUDGETS,
                   help="link budgets in kbit/s")
    p.add_argument("--codecs", nargs="+", default=CODECS, choices=CODECS)
    p.add_argument("--loss", type=float, nargs="*", default=[0.02, 0.10],
                   help="fractions of messages dropped in the loss test")
    p.add_argument("--loss-budget", type=float, default=200.0,
                   help="budget (kbit/s, one of --budgets) of the loss test")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--detector", choices=["opencv", "yolo", "auto"], default="opencv")
    p.add_argument("--model", default=None, help="YOLO model for --detector yolo/auto")
    p.add_argument("--no-yolo-timing", action="store_true")
    p.add_argument("--out", default="docs/benchmarks")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write the report."""
    from semcomm_ros.node_config import codec_config

    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    start = time.perf_counter()
    base = codec_config(getattr(args, "config", None))  # config/semcomm.yaml by default
    base.detector.backend = args.detector
    if args.model:
        base.detector.model = args.model
    clips = []
    for path in args.clip or DEFAULT_CLIPS:
        clip = Clip(Path(path).name, load_frames(path, args.frames, args.fps))
        detect_clip(clip, base)
        clips.append(clip)
    if args.loss_budget not in args.budgets:
        args.budgets = sorted(set(args.budgets) | {args.loss_budget})
    results, losses = [], []
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the environment
        def tqdm(x, **_):
            return x
    for clip in tqdm(clips, desc="clips"):
        r, x = run_clip(clip, args, base)
        results += r
        losses += x
    yolo_ms = None if args.no_yolo_timing else time_yolo(clips[-1].frames)
    command = "semcomm bench codec " + " ".join(sys.argv[3:]) if sys.argv[1:3] == [
        "bench", "codec"] else " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    path = write_report(results, losses, clips, args, command, yolo_ms,
                        time.perf_counter() - start)
    print(f"[bench codec] wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``codec`` to ``semcomm bench``."""
    p = subparsers.add_parser("codec", help="rate / quality / speed / loss of the semantic codec")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    """``python -m semcomm_ros.bench.codec`` (same options as ``semcomm bench codec``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
