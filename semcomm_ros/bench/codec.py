"""``semcomm bench codec``: rate, quality, speed and loss resilience of the semantic codec.

For each clip (video, image folder or rosbag2 bag; by default ``vtest.avi`` and
``box.mp4`` from the opencv-doc sample data) at 10 fps and each budget
(kbit/s; default 15, 30, 100, 200, 500), it codes the same frames with:

* ``ours-<coder>``: the semantic codec with each ``texture.coder`` that exists
  (``semcomm_ros.codec.config.CODERS``: ``region``, ``video``, ``auto`` once it
  exists); the configured default coder is the one pictured and phantom-checked;
* ``jpeg`` / ``webp``: per-frame still images at the highest quality within the
  per-frame budget (what ``compressed_image_transport`` sends);
* ``x264`` / ``x264-ir``: libx264 zero-latency at the same bitrate, key frames
  every 3 s, without / with intra refresh (what ``ffmpeg_image_transport`` sends);
* on request (``--codecs``): ``ours-video-r5`` (5-frame refresh period),
  ``ours-video-prefilter`` / ``ours-video-plain`` (video coder steered by
  blurring low-weight regions / not steered).

The detector (the configured one unless ``--detector``) runs once per frame and
its output is replayed into every run of the semantic codec, so every codec is
measured on the same key-object regions (objects whose weight reaches
``weights.key_threshold``, else the highest-weight object) and the same weight
map (weighted PSNR). Also measured: budget use, a picture per clip at the lowest
budget, phantoms (the detector run again on decoded pictures finds objects the
original lacks), and message loss (same seed for every codec; our encoder gets
each frame's fate one round trip later through ``SemanticEncoder.feedback`` when
it has that method). Results go to ``<out>/codec.md``, ``<out>/codec.json`` and
``<out>/codec_*.png``.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field, replace
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
DEFAULT_BUDGETS = [15.0, 30.0, 100.0, 200.0, 500.0]
BASELINES = ["jpeg", "webp", "x264", "x264-ir"]
VARIANTS = ["ours-video-r5", "ours-video-prefilter", "ours-video-plain"]
BASELINE_GOP = 30  # frames between key frames / refresh periods of the x264 baselines
PHANTOM_IOU = 0.3  # a decoded-picture detection below this IoU with every original one
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm"}


def ours_codecs() -> list[str]:
    """``ours-<coder>`` for every texture coder the codec has now."""
    from semcomm_ros.codec.config import CODERS

    return [f"ours-{coder}" for coder in CODERS]


def default_codecs() -> list[str]:
    """What runs without ``--codecs``: each of our coders and the four baselines."""
    return ours_codecs() + BASELINES


def all_codecs() -> list[str]:
    """Everything ``--codecs`` accepts."""
    return ours_codecs() + VARIANTS + BASELINES


def is_ours(name: str) -> bool:
    """Whether a codec name is one of ours."""
    return name.startswith("ours")


# --------------------------------------------------------------------------- sources

@dataclass
class Clip:
    """Frames of one source at the benchmark rate, with the replayed detections."""

    name: str
    frames: list[np.ndarray]
    detections: list[list[Detection]] = field(default_factory=list)
    key_masks: list[np.ndarray] = field(default_factory=list)
    weight_maps: list[np.ndarray] = field(default_factory=list)  # float16 HxW, the encoder's
    detect_ms: list[float] = field(default_factory=list)


def load_frames(path: str, count: int, fps: float) -> list[np.ndarray]:
    """``count`` frames at ``fps`` from a video or bag (subsampled by its rate) or a folder.

    A video keeps every ``round(source fps / fps)``-th frame; a bag the first
    message at or after each ``1 / fps`` step of its stamps; a folder every
    image, in name order. Frames of another size are resized to the first one's.
    """
    import cv2

    from semcomm_ros.io.frame_sources import detect_kind, open_source

    p = Path(path)
    frames: list[np.ndarray] = []
    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
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
        if not p.exists():
            raise SystemExit(f"no such clip: {path}")
        bag = detect_kind(path) == "bag"
        period, next_ns = 1e9 / fps, None
        for item in open_source(path, fps=fps):
            if bag:
                if next_ns is not None and item.stamp_ns < next_ns - period / 4:
                    continue  # (a quarter period of tolerance for stamp jitter)
                next_ns = (item.stamp_ns if next_ns is None else next_ns) + period
                while next_ns <= item.stamp_ns:
                    next_ns += period
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


def detect_clip(clip: Clip, cfg: CodecConfig, detector=None) -> str:
    """Run the detector over the clip; fill detections, key masks, weight maps and times.

    Returns the detector's name (the configured one unless ``detector`` is given).
    """
    import numpy as np

    from semcomm_ros.bench.metrics import weight_and_key_mask
    from semcomm_ros.codec.detect import make_detector

    detector = detector or make_detector(cfg.detector)
    for image in clip.frames:
        start = time.perf_counter()
        dets = detector.detect(image)
        clip.detect_ms.append((time.perf_counter() - start) * 1000)
        height, width = image.shape[:2]
        wmap, mask = weight_and_key_mask(dets, height, width, cfg)
        clip.detections.append(dets)
        clip.key_masks.append(mask)
        clip.weight_maps.append(wmap.astype(np.float16))
    return getattr(detector, "name", type(detector).__name__)


# --------------------------------------------------------------------------- codecs

@dataclass
class Coded:
    """One codec's output for a clip at one budget."""

    payloads: list = field(default_factory=list)   # whatever its decoder takes
    sizes: list[int] = field(default_factory=list)
    enc_ms: list[float] = field(default_factory=list)


STILL_SCALES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.18, 0.125, 0.09, 0.0625)  # down to 48x36 at VGA


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
    """The codec configuration of one of our variants (``ours-<coder>[-variant]``)."""
    from semcomm_ros.codec.config import CODERS

    cfg = copy.deepcopy(base)
    cfg.rate.frame_rate = fps
    coder = name.removeprefix("ours-")
    if coder in CODERS:
        cfg.texture.coder = coder
    elif name.startswith("ours-video"):
        cfg.texture.coder = "video"
        cfg.texture.video_steering = ("none" if name.endswith("plain") else "prefilter"
                                      if name.endswith("prefilter") else "roi")
        if name.endswith("-r5"):
            cfg.texture.video_gop = 5
    else:
        raise ValueError(f"unknown codec {name}")
    return cfg


def encode_ours(clip: Clip, budget: int, cfg: CodecConfig, lost: list[bool] | None = None,
                rtt_frames: int = 1) -> Coded:
    """The semantic codec with replayed detections; payloads are the packed wire bytes.

    With ``lost`` (which messages the link drops) and an encoder that has
    ``feedback(sequence, ok)``, the fate of frame ``i`` is told to the encoder
    just before it codes frame ``i + rtt_frames`` (the FrameReport, or its
    absence, one round trip later). Times: the encoder alone (no detector).
    """
    from semcomm_ros.codec import SemanticEncoder
    from semcomm_ros.codec.bitstream import pack

    enc = SemanticEncoder(cfg, detector=replay_detector(clip.detections))
    feedback = getattr(enc, "feedback", None) if lost is not None else None
    out = Coded()
    for index, image in enumerate(clip.frames):
        start = time.perf_counter()
        told = index - max(1, rtt_frames)
        if feedback is not None and told >= 0:
            feedback(told, not lost[told])
        frame = enc.encode(image, byte_budget=budget, sequence=index)
        data = pack(frame, cfg.limits)
        out.enc_ms.append((time.perf_counter() - start) * 1000)
        out.payloads.append(data)
        out.sizes.append(len(data))
    return out


def has_feedback() -> bool:
    """Whether our encoder takes loss feedback (``SemanticEncoder.feedback``)."""
    from semcomm_ros.codec import SemanticEncoder

    return callable(getattr(SemanticEncoder, "feedback", None))


def decode_ours(payloads: list, lost: list[bool], cfg: CodecConfig
                ) -> tuple[list[np.ndarray], list[float]]:
    """Unpack and compose; a lost or unusable frame shows the last picture.

    Unusable: the decoder refuses it (its reference was lost, say), as the decoder
    node does.
    """
    from semcomm_ros.codec import BitstreamError, CompositionDecoder
    from semcomm_ros.codec.bitstream import unpack

    dec = CompositionDecoder(cfg)
    images, times = [], []
    for data, gone in zip(payloads, lost):
        start = time.perf_counter()
        out = None
        if not gone:
            try:
                out = dec.decode(unpack(data, cfg.limits))
            except BitstreamError:
                out = None
        if out is None:
            out = dec.conceal()
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
    use: float            # mean bytes / budget
    within_budget: float  # fraction of frames <= budget
    max_over: float
    wpsnr: float
    psnr: float
    psnr_key: float
    psnr_bg: float
    ssim: float
    ssim_key: float
    ssim_bg: float
    enc_ms: float         # median per frame; ours: the encoder alone (no detector)
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
    wpsnr: float
    events: int
    recover_max: int
    recover_mean: float
    feedback: bool = False  # the encoder was told of each frame's fate (one round trip later)


@dataclass
class PhantomResult:
    """Detections on decoded pictures that the original lacks (sampled frames)."""

    clip: str
    codec: str
    budget_kbps: float
    frames: int
    detections: int     # on the decoded pictures
    original: int       # on the original frames
    phantoms: int
    strict: int = 0     # of those, with no original detection even at half the confidence

    @property
    def per_frame(self) -> float:
        """Phantoms per sampled frame."""
        return self.phantoms / max(1, self.frames)


@dataclass
class ClipRun:
    """Everything measured on one clip."""

    results: list[Result] = field(default_factory=list)
    losses: list[LossResult] = field(default_factory=list)
    phantoms: list[PhantomResult] = field(default_factory=list)
    picture: dict = field(default_factory=dict)  # codec -> decoded frame at the lowest budget
    picture_index: int = 0
    picture_budget: float = 0.0


def _mean(values: list[float]) -> float:
    import numpy as np

    arr = np.asarray(values, float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def run_codec(clip: Clip, name: str, budget: int, fps: float, base: CodecConfig,
              lost: list[bool] | None = None, rtt_frames: int = 1) -> tuple[Coded, callable]:
    """Encode the clip; return the coded stream and its decode(payloads, lost) function.

    ``lost`` matters to our encoder only (loss feedback); the baselines get none.
    """
    shape = clip.frames[0].shape[:2]
    if name in ("jpeg", "webp"):
        return encode_still(clip.frames, budget, name), lambda p, gone: decode_still(p, gone)
    if name.startswith("x264"):
        coded = encode_x264(clip.frames, budget, fps, intra_refresh=name.endswith("-ir"))
        return coded, lambda p, gone: decode_x264(p, gone, shape)
    cfg = ours_config(name, base, fps)
    return (encode_ours(clip, budget, cfg, lost, rtt_frames),
            lambda p, gone: decode_ours(p, gone, cfg))


def evaluate(clip: Clip, images: list[np.ndarray], with_ssim: bool = True) -> list[Quality]:
    """Per-frame quality of decoded images against the source frames (no picture: grey)."""
    import numpy as np

    from semcomm_ros.bench.metrics import quality

    out = []
    for index, (ref, img, key) in enumerate(zip(clip.frames, images, clip.key_masks)):
        if img is None:
            img = np.full_like(ref, 128)
        weights = clip.weight_maps[index] if index < len(clip.weight_maps) else None
        out.append(quality(ref, img, key, with_ssim, weights=weights))
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
        use=float(sizes.mean() / max(1, budget)),
        within_budget=float((sizes <= budget).mean()),
        max_over=float(max(0.0, sizes.max() / max(1, budget) - 1.0)),
        wpsnr=_mean([s.wpsnr for s in scores]),
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


def sampled_frames(count: int, every: int) -> list[int]:
    """Indices of the frames the phantom check looks at (every ``every``-th, from 0)."""
    return list(range(0, count, max(1, every)))


def fresh_detector(cfg: CodecConfig):
    """A new instance of the configured detector; its start-up warnings were logged once."""
    from semcomm_ros.codec.detect import make_detector

    logger = logging.getLogger("semcomm_ros.codec.detect")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return make_detector(cfg.detector)
    finally:
        logger.setLevel(level)


def detect_on(images: list[np.ndarray], cfg: CodecConfig) -> list[list[Detection]]:
    """A fresh detector (the configured one) over ``images`` (stateful fallbacks start clean)."""
    detector = fresh_detector(cfg)
    return [detector.detect(image) for image in images]


def half_confidence(cfg: CodecConfig) -> CodecConfig:
    """The configuration with the detector's confidence threshold halved."""
    return replace(cfg, detector=replace(cfg.detector, confidence=cfg.detector.confidence / 2))


def phantom_check(clip: Clip, name: str, kbps: float, images: list[np.ndarray],
                  reference: tuple[list[list[Detection]], list[list[Detection]]],
                  indices: list[int], cfg: CodecConfig) -> PhantomResult:
    """Count detections on decoded pictures that match no same-label original detection.

    ``reference``: the original frames' detections with the configured detector,
    and with its confidence threshold halved. A phantom matches none of the
    first; a strict phantom none of the second either (not a detection that
    merely crossed the threshold: the original shows no such object at all).
    """
    import numpy as np

    from semcomm_ros.bench.metrics import count_phantoms

    pictures = [images[i] if images[i] is not None else np.full_like(clip.frames[i], 128)
                for i in indices]
    found = detect_on(pictures, cfg)
    same, low = reference
    return PhantomResult(clip.name, name, kbps, len(indices), sum(len(d) for d in found),
                         sum(len(d) for d in same),
                         sum(count_phantoms(ref, dets, PHANTOM_IOU)
                             for ref, dets in zip(same, found)),
                         sum(count_phantoms(ref, dets, PHANTOM_IOU)
                             for ref, dets in zip(low, found)))


def run_clip(clip: Clip, args: argparse.Namespace, base: CodecConfig) -> ClipRun:
    """All codecs x budgets on one clip; phantoms, the picture and the loss test."""
    import numpy as np

    from semcomm_ros.bench.metrics import frames_to_recover

    run = ClipRun()
    count = len(clip.frames)
    clean = [False] * count
    lowest = min(args.budgets)
    run.picture_index, run.picture_budget = count - 1, lowest
    default = f"ours-{base.texture.coder}"
    pictured = {"webp", "x264", default}
    checked = [c for c in args.codecs if is_ours(c) or c == "x264"]
    indices = sampled_frames(count, args.phantom_every)
    originals = [clip.frames[i] for i in indices]
    reference = (detect_on(originals, base), detect_on(originals, half_confidence(base))) \
        if "x264" in checked and len(checked) > 1 and args.phantom_every > 0 else None
    feedback = has_feedback()
    for kbps in args.budgets:
        budget = int(kbps * 1000 / 8 / args.fps)
        for name in args.codecs:
            # our encoder hears every frame's report one round trip later, as on a link
            coded, decode = run_codec(clip, name, budget, args.fps, base,
                                      None if args.no_feedback else clean, args.rtt_frames)
            images, dec_ms = decode(coded.payloads, clean)
            scores = evaluate(clip, images)
            run.results.append(summarise(clip, name, kbps, budget, coded, scores, dec_ms,
                                         args.fps))
            log.info("%s %s %.0f kbit/s: %s", clip.name, name, kbps, run.results[-1])
            print(f"[bench codec] {clip.name} {kbps:g} kbit/s {name}: wPSNR "
                  f"{run.results[-1].wpsnr:.2f}, key {run.results[-1].psnr_key:.2f} dB "
                  f"({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
            if kbps == lowest and name in pictured:
                run.picture[name] = images[run.picture_index]
            if reference is not None and name in checked:
                run.phantoms.append(phantom_check(clip, name, kbps, images, reference, indices,
                                                  base))
            if kbps != args.loss_budget:
                continue
            key_clean = [s.psnr_key for s in scores]
            for fraction in args.loss:
                lost = loss_pattern(count, fraction, args.seed)
                told = is_ours(name) and feedback and not args.no_feedback
                lossy_coded = run_codec(clip, name, budget, args.fps, base, lost,
                                        args.rtt_frames)[0] if told else coded
                lossy = evaluate(clip, decode(lossy_coded.payloads, lost)[0], with_ssim=False)
                key_lossy = [s.psnr_key for s in lossy]
                events = frames_to_recover(key_lossy, key_clean, lost)
                run.losses.append(LossResult(
                    clip.name, name, kbps, fraction,
                    _mean(key_lossy),  # every frame: a lost one shows the last picture
                    _mean(key_clean), _mean([s.wpsnr for s in lossy]), len(events),
                    max(events, default=0), float(np.mean(events)) if events else 0.0, told))
    return run


# --------------------------------------------------------------------------- report

def plot(results: list[Result], out: Path) -> list[str]:
    """Rate-quality plots, one PNG per clip; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    panels = (("wpsnr", "weighted PSNR (dB)"), ("psnr_key", "key-object PSNR (dB)"),
              ("psnr", "full-frame PSNR (dB)"), ("ssim", "full-frame SSIM"))
    for clip in dict.fromkeys(r.clip for r in results):
        fig, axes = plt.subplots(1, len(panels), figsize=(20, 4.2))
        for codec in dict.fromkeys(r.codec for r in results):
            rows = sorted((r for r in results if r.clip == clip and r.codec == codec),
                          key=lambda r: r.kbps)
            style = "-o" if is_ours(codec) else "--s"
            for ax, (attr, title) in zip(axes, panels):
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


def save_picture(clip: Clip, run: ClipRun, default: str, out: Path) -> str | None:
    """Original | WebP | x264 | ours at the lowest budget, one frame: codec_<clip>_lowest.png."""
    import cv2
    import numpy as np

    original = clip.frames[run.picture_index]
    tiles = [("original", original)] + [
        (label, run.picture[codec]) for codec, label in
        (("webp", "WebP"), ("x264", "x264"), (default, default)) if codec in run.picture]
    if len(tiles) < 2:
        return None
    height, width = original.shape[:2]
    scale = min(1.0, 640 / width)
    size = (round(width * scale), round(height * scale))
    row = []
    for label, image in tiles:
        image = np.full_like(original, 128) if image is None else image
        tile = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
        text = f"{label} @ {run.picture_budget:g} kbit/s" if label != "original" else label
        cv2.putText(tile, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4,
                    cv2.LINE_AA)
        cv2.putText(tile, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1,
                    cv2.LINE_AA)
        row.append(tile)
    name = f"codec_{Path(clip.name).stem}_lowest.png"
    cv2.imwrite(str(out / name), np.hstack(row), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return name


def _fmt(value: float, digits: int = 2) -> str:
    import numpy as np

    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.{digits}f}"


def key_margin(kbps: float) -> float:
    """Key-object PSNR margin over the best baseline the issue asks for at a budget."""
    return 1.0 if kbps >= 100 else 0.0


def targets(results: list[Result], losses: list[LossResult], phantoms: list[PhantomResult],
            clips: list[Clip], ours: list[str]) -> list[str]:
    """Issue 8's targets for our codecs ``ours``, against the measurements (pass / MISS)."""
    lines = ["| target | measured | verdict |", "|---|---|---|"]

    def row(text: str, measured: str, ok: bool) -> None:
        lines.append(f"| {text} | {measured} | {'pass' if ok else 'MISS'} |")

    names = list(dict.fromkeys(r.clip for r in results))
    at = {(r.clip, r.codec, r.budget_kbps): r for r in results}
    for codec in ours:
        for clip in names:
            budgets = sorted(r.budget_kbps for r in results if r.clip == clip and r.codec == codec)
            bases = [b for b in BASELINES if any((clip, b, k) in at for k in budgets)]
            if bases:
                label = ", ".join(bases)
                for attr, text in (("wpsnr", "weighted PSNR >= max"),
                                   ("psnr_key", "key-object PSNR >= max")):
                    diffs = []
                    for k in budgets:
                        best = max((at[(clip, b, k)] for b in bases if (clip, b, k) in at),
                                   key=lambda r, a=attr: getattr(r, a))
                        diffs.append((k, getattr(at[(clip, codec, k)], attr) - getattr(best, attr),
                                      best))
                    margin = key_margin if attr == "psnr_key" else (lambda k: 0.0)
                    row(f"{clip}: {codec} {text}({label})"
                        + (" + 1 dB at 100-500 kbit/s, >= it at 15-30" if attr == "psnr_key"
                           else ""),
                        ", ".join(f"{k:g}: {d:+.2f} dB vs {b.codec}"
                                  + (f" ({b.use * 100:.0f} % of budget)" if b.use > 1.0 else "")
                                  for k, d, b in diffs),
                        all(d >= margin(k) for k, d, _ in diffs))
            if all((clip, "webp", k) in at for k in budgets):
                diffs = [(k, at[(clip, codec, k)].psnr - at[(clip, "webp", k)].psnr,
                          at[(clip, "webp", k)].use) for k in budgets]
                row(f"{clip}: {codec} full-frame PSNR >= WebP",
                    ", ".join(f"{k:g}: {d:+.2f} dB" + (f" (WebP {u * 100:.0f} % of budget)"
                                                       if u > 1.0 else "")
                              for k, d, u in diffs),
                    all(d >= 0 for _, d, _ in diffs))
            mine = [at[(clip, codec, k)] for k in budgets]
            row(f"{clip}: {codec} >= 99.5 % of frames within budget, mean use >= 90 %",
                f"within: worst {min(r.within_budget for r in mine) * 100:.1f} %; use: "
                + ", ".join(f"{r.budget_kbps:g}: {r.use * 100:.0f} %" for r in mine),
                all(r.within_budget >= 0.995 and r.use >= 0.9 for r in mine))
        for clip in names:
            x = {e.codec: e for e in losses if e.clip == clip and abs(e.loss - 0.1) < 1e-9}
            if codec in x and "x264" in x:
                gain = x[codec].psnr_key - x["x264"].psnr_key
                row(f"{clip}, 10 % lost: {codec} key PSNR >= x264 + 3 dB, worst recovery "
                    "<= 3 frames",
                    f"{gain:+.2f} dB ({x[codec].psnr_key:.2f} vs {x['x264'].psnr_key:.2f}), "
                    f"worst recovery {x[codec].recover_max} frames",
                    gain >= 3.0 and x[codec].recover_max <= 3)
        for clip in clips:
            rows = [r for r in results if r.clip == clip.name and r.codec == codec]
            if rows:  # the slowest budget's median frame
                h, w = clip.frames[0].shape[:2]
                enc = max(rows, key=lambda r: r.enc_ms)
                dec = max(rows, key=lambda r: r.dec_ms)
                per_vga = enc.enc_ms * 640 * 480 / (w * h)
                row(f"{clip.name}: {codec} encoder <= 100 ms per 640x480 frame without the "
                    "detector; composition <= 20 ms (median frame, slowest budget)",
                    f"encoder {enc.enc_ms:.1f} ms at {w}x{h} ({enc.budget_kbps:g} kbit/s) = "
                    f"{per_vga:.1f} ms per 640x480 (by pixel count); decoder {dec.dec_ms:.1f} "
                    f"ms ({dec.budget_kbps:g} kbit/s)", per_vga <= 100 and dec.dec_ms <= 20)
        for clip in names:
            mine = {p.budget_kbps: p for p in phantoms if p.clip == clip and p.codec == codec}
            theirs = {p.budget_kbps: p for p in phantoms if p.clip == clip and p.codec == "x264"}
            common = sorted(set(mine) & set(theirs))
            if common:
                row(f"{clip}: {codec} phantoms per frame <= x264's at the same bytes",
                    ", ".join(f"{k:g}: {mine[k].per_frame:.2f} vs {theirs[k].per_frame:.2f} "
                              f"(strict {mine[k].strict} vs {theirs[k].strict})"
                              for k in common),
                    all(mine[k].phantoms <= theirs[k].phantoms for k in common))
    return lines


def write_report(runs: dict[str, ClipRun], clips: list[Clip], args: argparse.Namespace,
                 command: str, yolo_ms: float | None, wall_s: float, default: str) -> Path:
    """Write codec.md, codec.json, the plots and the pictures under ``args.out``."""
    import numpy as np

    from semcomm_ros.bench.metrics import nanmedian

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = [r for run in runs.values() for r in run.results]
    losses = [x for run in runs.values() for x in run.losses]
    phantoms = [p for run in runs.values() for p in run.phantoms]
    pngs = plot(results, out)
    pictures = {clip.name: save_picture(clip, runs[clip.name], default, out) for clip in clips}
    (out / "codec.json").write_text(json.dumps(
        {"results": [asdict(r) for r in results], "loss": [asdict(x) for x in losses],
         "phantoms": [asdict(p) | {"per_frame": p.per_frame} for p in phantoms]},
        indent=1))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        "# Codec benchmark",
        "",
        f"- machine: {machine()}",
        f"- date: {date}; wall time {wall_s / 60:.1f} min",
        f"- command: `{command}`",
        f"- frames: {args.frames} per clip at {args.fps:g} fps; detector: "
        f"{args.detector_name} (run once per frame, replayed into every run of our codec); "
        f"default coder: {default}",
        "- quality: means over frames; PSNR on BGR (scikit-image), SSIM on luma "
        "(scikit-image SSIM map, averaged over the region); key region = objects with "
        "weight >= key_threshold (else the highest-weight object) from the detector above",
        "- weighted PSNR = 10 log10(255^2 / WMSE), WMSE = sum_p w(p) * mean_c (x_pc - y_pc)^2 "
        "/ sum_p w(p): w = the encoder's float weight map at pixel resolution "
        "(`codec.weights.build_weight_map` with the same detections and configuration), the "
        "same map for every codec; per frame, then the mean over frames",
        "- budget use = mean bytes per frame / budget; in budget = frames with bytes <= budget",
        "- times: medians per frame; ours: the encoder alone (the detector's time is given "
        "per clip)",
        ("- feedback: none (`--no-feedback`: a one-way link)" if args.no_feedback
         else "- feedback: our encoder hears each frame's receiver report (decoded or lost) "
         f"{args.rtt_frames} frame(s) after sending it (`SemanticEncoder.feedback`, "
         f"round trip {args.rtt_frames * 1000 / args.fps:.0f} ms), in every run"
         + ("" if has_feedback() else " (this encoder has no feedback method: it codes "
            "blind)")),
        f"- baselines: jpeg / webp at the highest quality within each frame's budget (at "
        f"full size, else the largest of the sizes {STILL_SCALES} that fits: upscaled "
        "at the receiver); "
        f"x264 = libx264 veryfast zerolatency, one-frame VBV, key frame every "
        f"{BASELINE_GOP} frames; x264-ir = the same with intra refresh",
        "",
        "Raw numbers: `codec.json`. Regenerate with the command above.",
        "",
        "## Targets of issue 8",
        "",
        "Every clip x budget, equal bytes (budgets in kbit/s; differences are ours minus the "
        "best baseline at that budget, named; a baseline that could not fit the budget, e.g. "
        "a still image whose smallest version is larger, says how much of it it used).",
        "",
    ]
    ours = list(dict.fromkeys(r.codec for r in results if is_ours(r.codec)))
    for group in ([c for c in ours if c == default], [c for c in ours if c != default]):
        if not group:
            continue
        table = targets(results, losses, phantoms, clips, group)
        passed = sum(line.endswith("| pass |") for line in table)
        if group[0] != default:
            md += ["### The other coders", ""]
        md += [f"{', '.join(group)}: {passed} of {len(table) - 2} targets pass.", "", *table, ""]
    for clip in clips:
        h, w = clip.frames[0].shape[:2]
        run = runs[clip.name]
        md += [f"## {clip.name} ({w}x{h})", "",
               f"Detector (median): {nanmedian(clip.detect_ms):.1f} ms/frame; "
               f"key region covers {np.mean([m.mean() for m in clip.key_masks]) * 100:.1f} % "
               "of the pixels on average.", "",
               "| codec | budget kbit/s | kbit/s | bpp | use | in budget | max over | wPSNR | "
               "PSNR | PSNR key | PSNR bg | SSIM | SSIM key | SSIM bg | enc ms | dec ms |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in run.results:
            md.append(f"| {r.codec} | {r.budget_kbps:g} | {r.kbps:.1f} | {r.bpp:.3f} | "
                      f"{r.use * 100:.0f} % | "
                      f"{r.within_budget * 100:.1f} % | {r.max_over * 100:.1f} % | "
                      f"{_fmt(r.wpsnr)} | "
                      f"{_fmt(r.psnr)} | {_fmt(r.psnr_key)} | {_fmt(r.psnr_bg)} | "
                      f"{_fmt(r.ssim, 3)} | {_fmt(r.ssim_key, 3)} | {_fmt(r.ssim_bg, 3)} | "
                      f"{r.enc_ms:.1f} | {r.dec_ms:.1f} |")
        png = f"codec_{Path(clip.name).stem}.png"
        if png in pngs:
            md += ["", f"![rate-quality {clip.name}]({png})"]
        if pictures.get(clip.name):
            md += ["", f"Frame {run.picture_index} at {run.picture_budget:g} kbit/s: original | "
                   f"WebP | x264 | {default} ([{pictures[clip.name]}]({pictures[clip.name]})):",
                   "", f"![lowest budget {clip.name}]({pictures[clip.name]})"]
        md.append("")
    if phantoms:
        md += ["## Phantom check", "",
               f"The detector ({args.detector_name}, a fresh instance per sequence) on every "
               f"{args.phantom_every}-th frame (from frame 0) of the original, of our "
               "reconstructions and of x264's at the same budget; a phantom is a detection on a "
               f"decoded picture with IoU < {PHANTOM_IOU} to every detection of the same label "
               "on the original (the target above counts these). A strict phantom also matches "
               "no detection on the original with the confidence threshold halved: not a "
               "detection that merely crossed the threshold, but an object of which the "
               "original shows no trace (reported, not a target).",
               "", "| clip | budget kbit/s | codec | frames | detections on original | "
               "detections on decoded | phantoms | phantoms per frame | strict phantoms |",
               "|---|---|---|---|---|---|---|---|---|"]
        for p in phantoms:
            md.append(f"| {p.clip} | {p.budget_kbps:g} | {p.codec} | {p.frames} | {p.original} "
                      f"| {p.detections} | {p.phantoms} | {p.per_frame:.2f} | {p.strict} |")
        md.append("")
    if losses:
        told = any(x.feedback for x in losses)
        md += ["## Loss test", "",
               f"Messages dropped at random (seed {args.seed}, same frames for every codec) at "
               f"{args.loss_budget:g} kbit/s. "
               + (f"Our encoder is told of each frame's fate {args.rtt_frames} frame(s) later "
                  f"(round trip {args.rtt_frames * 1000 / args.fps:.0f} ms: "
                  "`SemanticEncoder.feedback(sequence, ok)` before coding frame i + round "
                  "trip), and codes again under that loss; "
                  if told else "Our encoder gets no feedback: it codes blind "
                  "(the same stream as without loss); ")
               + "the baselines get no feedback. Key PSNR: mean over all frames, a lost frame "
               "showing the previous picture (what the operator sees); recovery = "
               "frames after a loss until key-object PSNR is within 0.5 dB of the loss-free "
               "decode (a lost frame itself shows the previous picture).", "",
               "| clip | codec | lost | feedback | key PSNR | key PSNR no loss | wPSNR | "
               "loss events | worst recovery | mean recovery |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for x in losses:
            md.append(f"| {x.clip} | {x.codec} | {x.loss * 100:g} % | "
                      f"{'yes' if x.feedback else 'no'} | {_fmt(x.psnr_key)} | "
                      f"{_fmt(x.psnr_key_clean)} | {_fmt(x.wpsnr)} | {x.events} | "
                      f"{x.recover_max} | {x.recover_mean:.1f} |")
        md.append("")
    md += ["## Speed", ""]
    for clip in clips:
        h, w = clip.frames[0].shape[:2]
        md.append(f"- {clip.name} ({w}x{h}): detector ({args.detector_name}) "
                  f"{nanmedian(clip.detect_ms):.1f} ms/frame median")
        for codec in dict.fromkeys(r.codec for r in runs[clip.name].results):
            rows = [r for r in runs[clip.name].results if r.codec == codec and is_ours(codec)]
            if rows:
                enc = float(np.median([r.enc_ms for r in rows]))
                dec = float(np.median([r.dec_ms for r in rows]))
                md.append(f"- {clip.name} ({w}x{h}), {codec}: encoder (no detector) "
                          f"{enc:.1f} ms = {1000 / max(enc, 1e-3):.1f} frames/s; composition "
                          f"decoder {dec:.1f} ms = {1000 / max(dec, 1e-3):.0f} frames/s "
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
    from semcomm_ros.codec.config import BACKENDS

    p.add_argument("--clip", action="append", default=None,
                   help="video, image folder or rosbag2 bag (repeatable; default: vtest.avi "
                        "and box.mp4 from the opencv-doc sample data)")
    p.add_argument("--frames", type=int, default=120, help="frames per clip (default 120)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--budgets", type=float, nargs="+", default=DEFAULT_BUDGETS,
                   help="link budgets in kbit/s (default 15 30 100 200 500)")
    p.add_argument("--codecs", nargs="+", default=None, choices=all_codecs(),
                   help=f"default: {' '.join(default_codecs())}")
    p.add_argument("--loss", type=float, nargs="*", default=[0.10, 0.02],
                   help="fractions of messages dropped in the loss test")
    p.add_argument("--loss-budget", type=float, default=100.0,
                   help="budget (kbit/s) of the loss test (added to --budgets if missing)")
    p.add_argument("--rtt-frames", type=int, default=1,
                   help="loss test: frames until our encoder learns a frame's fate (round trip; "
                        "default 1 = 100 ms at 10 fps)")
    p.add_argument("--no-feedback", action="store_true",
                   help="our encoder gets no receiver reports (a one-way link)")
    p.add_argument("--phantom-every", type=int, default=3,
                   help="phantom check on every n-th frame (0: skip the check)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--detector", choices=list(BACKENDS), default=None,
                   help="detector backend (default: the configured one, detector.backend)")
    p.add_argument("--model", default=None, help="YOLO model for --detector yolo/auto")
    p.add_argument("--no-yolo-timing", action="store_true")
    p.add_argument("--out", default="docs/benchmarks")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write the report."""
    from semcomm_ros.codec.detect import make_detector
    from semcomm_ros.node_config import codec_config

    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    start = time.perf_counter()
    base = codec_config(getattr(args, "config", None))  # config/semcomm.yaml by default
    if args.detector:
        base.detector.backend = args.detector
    if args.model:
        base.detector.model = args.model
    args.codecs = args.codecs or default_codecs()
    default = f"ours-{base.texture.coder}"
    detector = make_detector(base.detector)
    args.detector_name = getattr(detector, "name", base.detector.backend)
    clips = []
    for path in args.clip or DEFAULT_CLIPS:
        clip = Clip(Path(path).name, load_frames(path, args.frames, args.fps))
        detect_clip(clip, base, detector if not clips else fresh_detector(base))
        clips.append(clip)
    if args.loss and args.loss_budget not in args.budgets:
        args.budgets = sorted(set(args.budgets) | {args.loss_budget})
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the environment
        def tqdm(x, **_):
            return x
    runs = {}
    for clip in tqdm(clips, desc="clips"):
        runs[clip.name] = run_clip(clip, args, base)
    yolo_ms = None if args.no_yolo_timing else time_yolo(clips[-1].frames)
    command = "semcomm bench codec " + " ".join(sys.argv[3:]) if sys.argv[1:3] == [
        "bench", "codec"] else " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    path = write_report(runs, clips, args, command, yolo_ms, time.perf_counter() - start,
                        default)
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
