"""One bag x one setting, frame by frame: our encoder and decoder, baselines, metrics.

Every evaluated frame of the bag goes, in order, through:

* the **detector** (once per frame, before any setting: :func:`detect_frames`; its
  output is replayed into the encoder, and defines the key-object region and the
  weight map that every codec is scored on, as in ``semcomm bench codec``);
* **ours**: :class:`SemanticEncoder` at the setting's budget, the wire bytes
  (``pack``), :class:`CompositionDecoder` and the configured reconstruction backend
  (``none`` = composition, ``embedded``, ``sd``): what the decoder node shows;
* the **baselines** at the same budget on the same frames: per-frame WebP at the
  highest quality that fits (``bench.codec.encode_still``) and libx264 zero-latency
  at the same bit rate (``bench.codec``'s options; along a trace its bit rate is
  reconfigured every frame);
* **metrics**: PSNR / SSIM full, key-object and background, weighted PSNR
  (``bench.metrics.quality``), and every ``detect_every``-th frame the real detector
  (a fresh instance of the configured one) on each decoded picture: recall of the
  original's detections (same label, IoU >= 0.5) and phantoms (IoU < 0.3 with every
  same-label original detection, ``bench.metrics.count_phantoms``).

Our encoder hears each frame's receiver report one frame later (``--no-feedback``:
a one-way link); the baselines get none (they have no use for it).

A frame the setting does not code (trace: frame-rate reduction, pacing) or that the
link loses (trace rate 0) shows the previous picture, for every codec alike; while the
link is dead our encoder sends its semantics-only keep-alives and the baselines go on
at their last budget on the same frames, all of it lost.
Results: a CSV row per frame and codec, a JSON summary, the side-by-side MP4 and
the worst frames' pictures, all in the setting's folder.
"""
from __future__ import annotations

import csv
import heapq
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from semcomm_ros.bench.metrics import box_iou, count_phantoms
from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.detect import Detection, Detector
from semcomm_ros.evaluation.metrics import Reference
from semcomm_ros.evaluation.settings import Budgets, Setting

CODECS = ("ours", "webp", "x264")
BASELINES = ("webp", "x264")
RECALL_IOU = 0.5   # an original detection is found again at this IoU, same label
PHANTOM_IOU = 0.3  # as semcomm bench codec
FIELDS = ["frame", "index", "t_s", "codec", "sent", "delivered", "rate_kbps", "budget",
          "bytes", "level", "objects", "psnr", "psnr_key", "psnr_bg", "ssim", "ssim_key",
          "ssim_bg", "wpsnr", "detections_original", "detections_decoded", "recall",
          "phantoms", "enc_ms", "dec_ms"]


# --------------------------------------------------------------------------- frames

@dataclass
class BagFrames:
    """Which messages of a bag are evaluated: topic, indices into it, stamps, frame rate."""

    path: str
    topic: str
    msgtype: str
    indices: list[int]        # message indices on the topic
    stamps_ns: list[int]
    fps: float                # evaluated frames per second (median interval)
    width: int = 0
    height: int = 0

    def iter(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """(evaluated frame number, stamp ns, BGR image) in order."""
        from semcomm_ros.io.frame_sources import iter_bag

        wanted = iter(enumerate(self.indices))
        number, want = next(wanted, (None, None))
        for item in iter_bag(self.path, self.topic):
            if want is None:
                return
            if item.index == want:
                yield number, item.stamp_ns, item.image
                number, want = next(wanted, (None, None))


def select_frames(path: str, topic: str | None = None, fps: float = 0.0,
                  max_frames: int = 0, start: int = 0) -> BagFrames:
    """The image topic (given, or the bag's first) and the frames to evaluate.

    All of them from the first by default (``start``: from that message on);
    ``fps`` > 0 keeps the first message at or after each ``1/fps`` step of the
    stamps (the bag's rate or less); ``max_frames`` > 0 stops after that many.
    """
    from rosbags.highlevel import AnyReader

    from semcomm_ros.io.frame_sources import IMAGE_TYPES, SourceError, image_topics

    topics = image_topics(path)
    if topic is None:
        topic, msgtype, _ = topics[0]
    else:
        match = [t for t in topics if t[0] == topic]
        if not match:
            raise SourceError(f"{path}: no image topic {topic} (image topics: "
                              f"{', '.join(t[0] for t in topics)})")
        msgtype = match[0][1]
    stamps: list[int] = []
    with AnyReader([Path(path)]) as reader:
        conns = [c for c in reader.connections if c.topic == topic and c.msgtype in IMAGE_TYPES]
        for conn, stamp, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)  # header stamp: the capture time
            header = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            stamps.append(header or stamp)
    if len(stamps) <= start:
        raise SourceError(f"{path}: topic {topic} holds {len(stamps)} messages (start {start})")
    indices, kept = [], []
    period, next_ns = (1e9 / fps if fps > 0 else 0.0), None
    for i, s in enumerate(stamps):
        if i < start:
            continue
        if period:
            if next_ns is not None and s < next_ns - period / 4:
                continue
            next_ns = (s if next_ns is None else next_ns) + period
            while next_ns <= s:
                next_ns += period
        indices.append(i)
        kept.append(s)
        if max_frames and len(indices) >= max_frames:
            break
    intervals = np.diff(np.asarray(kept, np.float64)) / 1e9
    intervals = intervals[intervals > 0]
    rate = float(1.0 / np.median(intervals)) if intervals.size else (fps or 10.0)
    return BagFrames(str(path), topic, msgtype, indices, kept, rate)


# --------------------------------------------------------------------------- detections

def pack_detections(dets: list[Detection]) -> list[tuple]:
    """Detections as small picklable tuples (masks cropped to the box and bit-packed)."""
    out = []
    for d in dets:
        mask = None
        if d.mask is not None:
            x, y, w, h = d.box
            crop = d.mask[y:y + h, x:x + w]
            mask = (crop.shape, np.packbits(crop), d.mask.shape)
        out.append((d.class_id, d.label, float(d.confidence), tuple(int(v) for v in d.box), mask))
    return out


def unpack_detections(items: list[tuple]) -> list[Detection]:
    """The inverse of :func:`pack_detections`."""
    out = []
    for class_id, label, conf, box, mask in items:
        full = None
        if mask is not None:
            shape, bits, size = mask
            full = np.zeros(size, bool)
            x, y, w, h = box
            full[y:y + shape[0], x:x + shape[1]] = np.unpackbits(
                bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)
        out.append(Detection(class_id, label, conf, box, full))
    return out


def detect_frames(frames: BagFrames, cfg: CodecConfig, detector: Detector | None = None,
                  progress: Callable[[int], None] | None = None) -> tuple[list[list[tuple]], str]:
    """The configured detector over every evaluated frame: packed detections, its name."""
    from semcomm_ros.codec.detect import make_detector

    detector = detector or make_detector(cfg.detector)
    out = []
    for _, _, image in frames.iter():
        out.append(pack_detections(detector.detect(image)))
        if progress:
            progress(1)
    return out, getattr(detector, "name", type(detector).__name__)


class GivenDetector(Detector):
    """Returns whatever ``current`` holds (set before each encode: replayed detections)."""

    name = "replay"

    def __init__(self) -> None:
        self.current: list[Detection] = []

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The detections set for this frame."""
        return self.current


def frame_maps(dets: list[Detection], height: int, width: int, cfg: CodecConfig
               ) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's weight map and the key-object mask (as ``bench.codec.detect_clip``)."""
    from semcomm_ros.bench.metrics import weight_and_key_mask

    return weight_and_key_mask(dets, height, width, cfg)


def recall(original: list[Detection], decoded: list[Detection], iou: float = RECALL_IOU
           ) -> float:
    """Share of the original's detections found on the decoded picture (NaN: none)."""
    if not original:
        return float("nan")
    found = sum(1 for ref in original
                if any(d.label == ref.label and box_iou(ref.box, d.box) >= iou for d in decoded))
    return found / len(original)


# --------------------------------------------------------------------------- codecs

class Ours:
    """SemanticEncoder -> wire bytes -> CompositionDecoder -> reconstruction backend.

    With ``feedback`` the encoder hears each sent frame's fate (decoded, or lost on
    the link) one frame later, before it codes the next one: the FrameReport of an
    ideal return path, as in ``semcomm bench codec`` (``SemanticEncoder.feedback``).
    Without it the encoder codes for a one-way link (the auto coder then refreshes
    with an intra frame every ``texture.refresh_period`` frames).
    """

    def __init__(self, cfg: CodecConfig, reconstructor, feedback: bool = True) -> None:
        from semcomm_ros.codec import CompositionDecoder, SemanticEncoder

        self.cfg = cfg
        self.detector = GivenDetector()
        self.encoder = SemanticEncoder(cfg, detector=self.detector)
        self.decoder = CompositionDecoder(cfg)
        self.reconstructor = reconstructor
        self.picture: np.ndarray | None = None
        self.decoded = None
        self.feedback = feedback and callable(getattr(self.encoder, "feedback", None))
        self.pending: list[tuple[int, bool]] = []

    def report(self, sequence: int, delivered: bool) -> None:
        """The fate of a sent frame, told to the encoder before it codes the next frame."""
        if self.feedback:
            self.pending.append((sequence, delivered))

    def encode(self, image: np.ndarray, dets: list[Detection], budget: int, sequence: int
               ) -> tuple[bytes, int, float]:
        """Wire bytes, level, encode ms (the encoder alone: detections are replayed)."""
        from semcomm_ros.codec.bitstream import pack

        self.detector.current = dets
        for told, ok in self.pending:
            self.encoder.feedback(told, ok)
        self.pending.clear()
        start = time.perf_counter()
        frame = self.encoder.encode(image, byte_budget=budget, sequence=sequence)
        data = pack(frame, self.cfg.limits)
        return data, int(frame.level), (time.perf_counter() - start) * 1000

    def decode(self, data: bytes | None) -> float:
        """Decode and reconstruct (None: lost, conceal); returns ms."""
        from semcomm_ros.codec import BitstreamError
        from semcomm_ros.codec.bitstream import unpack

        start = time.perf_counter()
        out = None
        if data is not None:
            try:
                out = self.decoder.decode(unpack(data, self.cfg.limits))
            except BitstreamError:
                out = None
            if out is not None:
                self.picture = self.reconstructor.reconstruct(out)
                self.decoded = out
        return (time.perf_counter() - start) * 1000


class Composition:
    """Backend ``none`` without importing torch: the composite as the decoder made it."""

    name = "none"

    def reconstruct(self, decoded) -> np.ndarray:
        """The composite (what ``reconstruction.backends.CompositionReconstructor`` returns)."""
        return decoded.image.copy()


def make_backend(recon_cfg):
    """The configured reconstruction backend (``none``: :class:`Composition`, no torch import)."""
    if recon_cfg is None or recon_cfg.backend == "none":
        return Composition()
    from semcomm_ros.reconstruction import make_reconstructor

    return make_reconstructor(recon_cfg)


class WebP:
    """Per-frame WebP at the highest quality within the budget, the receiver upscaling.

    The rule of ``bench.codec.encode_still``: full size when quality 1 fits, else
    the largest of its sizes (``STILL_SCALES``) where it does; the search is warm
    started from the previous frame's size and quality (2-3 encodes a frame instead
    of up to 5 per size), so it may end a quality step or two away from it.
    """

    def __init__(self, q_max: int = 99) -> None:
        self.picture: np.ndarray | None = None
        self.scale_index = 0
        self.quality = 75
        self.q_max = q_max
        self._payload: tuple[bytes, int, int] | None = None

    def _small(self, image: np.ndarray, index: int) -> np.ndarray:
        from semcomm_ros.bench.codec import STILL_SCALES
        from semcomm_ros.codec.region import resize_to

        h, w = image.shape[:2]
        scale = STILL_SCALES[index]
        return resize_to(image, max(8, round(w * scale)), max(8, round(h * scale)))

    def _fit(self, small: np.ndarray, budget: int, start: int) -> tuple[int, bytes] | None:
        """Highest quality found to fit ``budget`` (secant on log size from ``start``)."""
        from semcomm_ros.codec.region import fit_quality

        found = fit_quality(small, "webp", budget, 1, self.q_max, max_tries=5, overhead=0,
                            start=start)
        return None if found is None else (found.quality, found.data)

    def encode(self, image: np.ndarray, budget: int) -> tuple[bytes, float]:
        """(payload, encode ms)."""
        from semcomm_ros.bench.codec import STILL_SCALES
        from semcomm_ros.codec import imagecodec

        start = time.perf_counter()
        h, w = image.shape[:2]
        while self.scale_index > 0 and len(imagecodec.encode(
                self._small(image, self.scale_index - 1), "webp", 1)) <= budget:
            self.scale_index -= 1  # a larger size fits again (at quality 1 at least)
        while True:
            small = self._small(image, self.scale_index)
            best = self._fit(small, budget, self.quality)
            if best is not None or self.scale_index == len(STILL_SCALES) - 1:
                break
            self.scale_index += 1
            self.quality = 75
        if best is None:  # nothing fits: the smallest size at quality 1, over budget
            best = (1, imagecodec.encode(small, "webp", 1))
        self.quality = best[0]
        self._payload = (best[1], w, h)
        return best[1], (time.perf_counter() - start) * 1000

    def decode(self, delivered: bool) -> float:
        """Decode the last payload when delivered; returns ms."""
        from semcomm_ros.bench.codec import decode_still

        if not delivered or self._payload is None:
            return 0.0
        images, times = decode_still([self._payload], [False])
        self.picture = images[0]
        return times[0]


class X264:
    """libx264 zero-latency, one-frame VBV, as ``bench.codec.encode_x264``, frame by frame."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        import av

        from semcomm_ros.bench.codec import BASELINE_GOP

        self.fps = fps
        self.width, self.height = width - width % 2, height - height % 2
        self.enc = None
        self.gop = BASELINE_GOP
        self.dec = av.CodecContext.create("h264", "r")
        self.dec.open()
        self.picture: np.ndarray | None = None
        self.shape = (height, width)
        self.index = 0
        self._data = b""

    def _open(self, budget: int) -> None:
        import av

        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
        rate = max(1, round(self.fps))
        ctx.time_base, ctx.framerate = Fraction(1, rate), Fraction(rate)
        ctx.bit_rate = int(budget * 8 * self.fps)
        ctx.thread_count = 1
        ctx.options = {"preset": "veryfast", "tune": "zerolatency", "bufsize": str(budget * 8),
                       "maxrate": str(int(budget * 8 * self.fps)),
                       "x264-params": f"keyint={self.gop}:min-keyint={self.gop}:bframes=0:"
                                      "scenecut=0:rc-lookahead=0:repeat-headers=1:"
                                      "intra-refresh=0"}
        ctx.open()
        self.enc = ctx

    def encode(self, image: np.ndarray, budget: int) -> tuple[bytes, float]:
        """(packet bytes, encode ms); the bit rate follows ``budget`` (x264 reconfigures)."""
        import av

        start = time.perf_counter()
        if self.enc is None:
            self._open(budget)
        else:
            self.enc.bit_rate = int(budget * 8 * self.fps)
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image[:self.height, :self.width]), format="bgr24"
        ).reformat(format="yuv420p")
        frame.pts = self.index
        self.index += 1
        self._data = b"".join(bytes(p) for p in self.enc.encode(frame))
        return self._data, (time.perf_counter() - start) * 1000

    def decode(self, delivered: bool) -> float:
        """Decode the last packet when delivered; returns ms."""
        import av

        start = time.perf_counter()
        if delivered and self._data:
            try:
                pictures = self.dec.decode(av.Packet(self._data))
            except av.error.FFmpegError:
                pictures = []
            if pictures:
                pic = pictures[-1].to_ndarray(format="bgr24")
                h, w = self.shape
                self.picture = cv2.copyMakeBorder(pic, 0, h - pic.shape[0], 0, w - pic.shape[1],
                                                  cv2.BORDER_REPLICATE)
        return (time.perf_counter() - start) * 1000


# --------------------------------------------------------------------------- the run

@dataclass
class ReplayOptions:
    """How much is measured besides the per-frame metrics."""

    feedback: bool = True            # the encoder hears every frame's fate one frame later
    detect_every: int = 10           # detector on decoded pictures every n-th frame (0: never)
    baselines: tuple[str, ...] = BASELINES
    video: bool = True               # side-by-side MP4
    video_height: int = 240          # tile height in the MP4
    worst: int = 6                   # worst frames (ours, weighted PSNR; one per second at most)


@dataclass
class SettingResult:
    """Aggregates of one setting (the JSON summary); ``per_codec[codec][metric]``."""

    bag: str
    setting: str
    frames: int
    fps: float
    width: int
    height: int
    backend: str
    per_codec: dict = field(default_factory=dict)
    worst: list = field(default_factory=list)   # [{frame, wpsnr, psnr_key, image}]
    video: str = ""
    wall_s: float = 0.0


def _mean(values) -> float:
    arr = np.asarray([v for v in values if v is not None], float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def summarise(rows: list[dict], fps: float, width: int, height: int) -> dict:
    """Per codec: mean bytes, kbit/s, bpp, quality means, recall, phantoms, median times."""
    out = {}
    for codec in dict.fromkeys(r["codec"] for r in rows):
        mine = [r for r in rows if r["codec"] == codec]
        sent = [r for r in mine if r["sent"]]
        total = sum(r["bytes"] for r in mine)
        duration = len(mine) / fps if fps > 0 else float("nan")
        checked = [r for r in mine if r["detections_decoded"] != ""]
        out[codec] = {
            "frames": len(mine), "sent": len(sent),
            "bytes_mean": total / max(1, len(sent)),
            "kbps": total * 8 / 1000 / duration if duration else float("nan"),
            "bpp": total * 8 / max(1, len(sent)) / (width * height),
            "budget_use": _mean([r["bytes"] / r["budget"] for r in sent if r["budget"]]),
            **{k: _mean(r[k] for r in mine) for k in ("psnr", "psnr_key", "psnr_bg", "ssim",
                                                      "ssim_key", "ssim_bg", "wpsnr")},
            "level_mean": _mean([r["level"] for r in sent if r["level"] != ""]),
            "recall": _mean([r["recall"] for r in checked if r["recall"] != ""]),
            "phantoms_per_frame": (sum(r["phantoms"] for r in checked) / len(checked)
                                   if checked else float("nan")),
            "frames_checked": len(checked),
            "enc_ms": float(np.median([r["enc_ms"] for r in sent])) if sent else float("nan"),
            "dec_ms": float(np.median([r["dec_ms"] for r in sent])) if sent else float("nan"),
        }
    return out


def tile_row(original: np.ndarray, wmap: np.ndarray, dets: list[Detection],
             picture: np.ndarray | None, height: int, label: str) -> np.ndarray:
    """Original | weight map (heat map + boxes) | reconstruction, ``height`` px high."""
    from semcomm_ros.visualize import heatmap, side_by_side

    h, w = original.shape[:2]
    overlay = cv2.addWeighted(original, 0.55, heatmap(wmap, (w, h)), 0.45, 0)
    for d in dets:
        x, y, bw, bh = d.box
        cv2.rectangle(overlay, (x, y), (x + bw, y + bh), (0, 255, 0), 2)
    pic = picture if picture is not None else np.full_like(original, 128)
    return side_by_side([original, overlay, pic], ["original", "weight map", label], height)


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def run_setting(frames: BagFrames, detections: list[list[tuple]], setting: Setting,
                cfg: CodecConfig, recon_cfg, budget_cfg, out: Path,
                options: ReplayOptions | None = None,
                progress: Callable[[int], None] | None = None) -> SettingResult:
    """Replay the bag's frames through ours and the baselines at one setting.

    Writes ``frames.csv``, ``summary.json``, ``side_by_side.mp4`` and ``worst_*.jpg``
    into ``out``; ``summary.json`` is written last (its presence marks a finished run).
    """
    import copy

    from semcomm_ros.codec.detect import make_detector
    from semcomm_ros.evaluation.video import VideoWriter

    options = options or ReplayOptions()
    out.mkdir(parents=True, exist_ok=True)
    start_wall = time.perf_counter()
    cfg = copy.deepcopy(cfg)
    cfg.rate.frame_rate = frames.fps
    reconstructor = make_backend(recon_cfg)
    ours = Ours(cfg, reconstructor, options.feedback)
    budgets = Budgets(setting, frames.fps, budget_cfg)
    checker = make_detector(cfg.detector) if options.detect_every > 0 else None
    baselines: dict = {}
    video = None
    rows: list[dict] = []
    # the worst frame of each second of the bag (score, frame, jpeg): the table then shows
    # the worst moments, not six neighbours of one
    worst: dict[int, tuple[float, int, bytes]] = {}
    window = max(1, round(frames.fps))
    t0 = frames.stamps_ns[0]
    base_budget = 0  # the baselines' budget: the last one of a live link
    for number, stamp, image in frames.iter():
        h, w = image.shape[:2]
        if not baselines:
            frames.width, frames.height = w, h
            if "webp" in options.baselines:
                baselines["webp"] = WebP()
            if "x264" in options.baselines:
                baselines["x264"] = X264(w, h, frames.fps)
        if image.shape[:2] != (frames.height, frames.width):  # a size change mid-bag
            image = cv2.resize(image, (frames.width, frames.height), interpolation=cv2.INTER_AREA)
            h, w = image.shape[:2]
        dets = unpack_detections(detections[number])
        wmap, key = frame_maps(dets, h, w, cfg)
        t = (stamp - t0) / 1e9
        send, budget, kbps = budgets.decide(t)
        delivered = send and kbps > 0
        data, level, enc_ms = (ours.encode(image, dets, budget, number) if send
                               else (b"", "", 0.0))
        budgets.sent(t, len(data), delivered)
        dec_ms = ours.decode(data if delivered else None)
        if send:
            ours.report(number, delivered)
        results = {"ours": (ours.picture, len(data), level, enc_ms, dec_ms,
                            len(ours.decoded.objects) if ours.decoded is not None else "",
                            budget)}
        if kbps > 0:
            base_budget = budget
        for name, codec in baselines.items():
            # a baseline has no keep-alive: while the link is dead it goes on at its last rate,
            # and what it sends is lost (x264: its next frames miss their references)
            # (a trace that starts dead: nothing to go on at yet)
            payload, b_enc = codec.encode(image, base_budget) if send and base_budget > 0 \
                else (b"", 0.0)
            b_dec = codec.decode(delivered)
            results[name] = (codec.picture, len(payload), "", b_enc, b_dec, "", base_budget)
        check = checker is not None and number % options.detect_every == 0
        reference = Reference(image, key, wmap)
        for name, (picture, nbytes, lvl, e_ms, d_ms, nobj, frame_budget) in results.items():
            shown = picture if picture is not None else np.full_like(image, 128)
            q = reference.score(shown)
            row = {"frame": number, "index": frames.indices[number], "t_s": round(t, 4),
                   "codec": name, "sent": int(send), "delivered": int(delivered),
                   "rate_kbps": kbps, "budget": frame_budget if send else 0, "bytes": nbytes,
                   "level": lvl, "objects": nobj, **{k: round(v, 4) for k, v in asdict(q).items()},
                   "detections_original": len(dets), "detections_decoded": "", "recall": "",
                   "phantoms": "", "enc_ms": round(e_ms, 2), "dec_ms": round(d_ms, 2)}
            if check:
                found = checker.detect(shown)
                row.update(detections_decoded=len(found), recall=_clean(recall(dets, found)),
                           phantoms=count_phantoms(dets, found, PHANTOM_IOU))
            rows.append(row)
        if options.video:
            tiles = tile_row(image, wmap, dets, ours.picture, options.video_height,
                             f"{reconstructor.name if reconstructor.name != 'none' else 'ours'}"
                             f" {setting.name}")
            if video is None:
                video = VideoWriter(out / "side_by_side.mp4", tiles.shape[1], tiles.shape[0],
                                    frames.fps)
            video.write(tiles)
        ours_row = rows[-len(results)]
        score = ours_row["wpsnr"] if not math.isnan(ours_row["wpsnr"]) else ours_row["psnr"]
        second = number // window
        if options.worst > 0 and (second not in worst or score < worst[second][0]):
            tiles = tile_row(image, wmap, dets, ours.picture, 240, f"ours {setting.name}")
            ok, jpg = cv2.imencode(".jpg", tiles, [cv2.IMWRITE_JPEG_QUALITY, 85])
            worst[second] = (score, number, jpg.tobytes())
        if progress:
            progress(1)
    if video is not None:
        video.close()
    for old in out.glob("worst_*.jpg"):
        old.unlink()
    worst_items = []
    for score, number, jpg in heapq.nsmallest(options.worst, worst.values()):
        name = f"worst_{number:06d}.jpg"
        (out / name).write_bytes(jpg)
        ours_row = next(r for r in rows if r["frame"] == number and r["codec"] == "ours")
        worst_items.append({"frame": number, "t_s": ours_row["t_s"], "wpsnr": score,
                            "psnr_key": ours_row["psnr_key"], "psnr": ours_row["psnr"],
                            "bytes": ours_row["bytes"], "level": ours_row["level"],
                            "image": name})
    with open(out / "frames.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _clean(v) for k, v in r.items()})
    result = SettingResult(Path(frames.path).name, setting.name, len(frames.indices),
                           frames.fps, frames.width, frames.height, reconstructor.name,
                           summarise(rows, frames.fps, frames.width, frames.height),
                           worst_items, "side_by_side.mp4" if video is not None else "",
                           time.perf_counter() - start_wall)
    (out / "summary.json").write_text(json.dumps(asdict(result), indent=1, allow_nan=True))
    return result
