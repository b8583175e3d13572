"""Training data: image sources (folders, videos, bags), the fixed held-out split, packs.

A *pack* is one compact ``.npz`` file of training pairs (original JPEG q92, composite
JPEG q90, weight map PNG at 1/4 resolution (it is smooth; the codec itself sends it
in 16-pixel cells), semantic map 16-bit PNG, level), built once by running the
degradation of :mod:`semcomm_ros.reconstruction.degrade` at random budgets. Training
reads only packs, so the same pairs can be carried to a GPU machine.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from semcomm_ros.reconstruction.degrade import PairMaker

log = logging.getLogger("semcomm_ros.reconstruction.data")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO / "data" / "opencv-doc" / "data"
SAMPLE_VIDEO = "vtest.avi"
SECOND_VIDEO = "box.mp4"            # hand-held 640x480 clip (opencv-doc), trained on
TRAIN_FRAMES = range(0, 600)       # vtest.avi frames trained on
HELD_OUT_FRAMES = range(600, 795)  # vtest.avi frames never trained on
#: opencv-doc photos never trained on (benchmark only), plus near-duplicates of them.
HELD_OUT_PHOTOS = ("aero1.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg",
                   "home.jpg", "leuvenA.jpg", "messi5.jpg", "smarties.png",
                   "squirrel_cls.jpg")
EXCLUDED_PHOTOS = HELD_OUT_PHOTOS + ("aero3.jpg", "leuvenB.jpg", "aloeGT.png")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXT = (".avi", ".mp4", ".mkv", ".mov", ".webm")
BAG_EXT = (".mcap", ".db3")
MIN_SIDE = 192
MAX_SIDE = 1024


@dataclass
class Source:
    """One image: a name (for the record), the pixels (BGR uint8) and its stream.

    Frames of one video/bag share a ``stream`` name and go through one codec state in
    order; ``record`` is False for frames that only advance that state (not stored).
    """

    name: str
    image: np.ndarray
    stream: str = ""
    record: bool = True


def _fit(image: np.ndarray) -> np.ndarray | None:
    """Limit the long side to MAX_SIDE; None for images too small to crop."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        return None
    s = min(1.0, MAX_SIDE / max(h, w))
    if s < 1.0:
        image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return image


def read_images(folder: Path, exclude: tuple[str, ...] = ()) -> Iterator[Source]:
    """Images in a folder (not recursive), sorted by name."""
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_EXT and path.name not in exclude:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is not None:
                yield Source(path.name, img)


def read_video(path: Path, frames: range | None = None, every: int = 1,
               step: int = 1) -> Iterator[Source]:
    """Frames of a video in ``frames``: every ``step``-th fed, every ``every``-th recorded."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path}")
    i = 0
    try:
        while True:
            ok, img = cap.read()
            if not ok or (frames is not None and i >= frames.stop):
                break
            if (frames is None or i in frames) and i % step == 0:
                yield Source(f"{path.name}#{i}", img, path.name, (i // step) % every == 0)
            i += 1
    finally:
        cap.release()


def read_bag(path: Path, topic: str = "", every: int = 1) -> Iterator[Source]:
    """``sensor_msgs/Image`` (bgr8/rgb8/mono8) and ``CompressedImage`` from a rosbag2."""
    try:
        from rosbags.highlevel import AnyReader
    except ImportError as exc:
        raise ValueError("reading bags needs the 'rosbags' package") from exc
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections
                 if c.msgtype in ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
                 and (not topic or c.topic == topic)]
        if not conns:
            raise ValueError(f"{path}: no image topic{' ' + topic if topic else ''}")
        for i, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype.endswith("CompressedImage"):
                img = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
            else:
                arr = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
                ch = {"bgr8": 3, "rgb8": 3, "mono8": 1}.get(msg.encoding)
                if ch is None:
                    continue
                img = arr[:, :msg.width * ch].reshape(msg.height, msg.width, ch)
                img = {"rgb8": lambda a: a[..., ::-1], "mono8": lambda a: np.repeat(a, 3, 2)
                       }.get(msg.encoding, lambda a: a)(img)
            if img is not None:
                yield Source(f"{path.name}:{conn.topic}#{i}", np.ascontiguousarray(img),
                             f"{path.name}:{conn.topic}", i % every == 0)


def iter_sources(inputs: list[str], video_every: int = 3, frames: range | None = None,
                 topic: str = "", video_step: int = 1) -> Iterator[Source]:
    """Images from folders, image files, videos and bags; default = the sample data.

    The default (no inputs) is the opencv-doc photos minus :data:`EXCLUDED_PHOTOS`
    plus ``vtest.avi`` frames of :data:`TRAIN_FRAMES` and the hand-held ``box.mp4``
    (:data:`SECOND_VIDEO`). The held-out vtest frames are refused whatever ``frames``
    says. Videos feed every ``video_step``-th frame to the codec.
    """
    if not inputs:
        yield from _fitted(read_images(DEFAULT_DATA_DIR, EXCLUDED_PHOTOS))
        yield from _fitted(read_video(DEFAULT_DATA_DIR / SAMPLE_VIDEO, TRAIN_FRAMES,
                                      video_every, video_step))
        if (DEFAULT_DATA_DIR / SECOND_VIDEO).is_file():
            yield from _fitted(read_video(DEFAULT_DATA_DIR / SECOND_VIDEO, None,
                                          video_every, video_step))
        return
    for item in inputs:
        path = Path(item)
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            yield from _fitted(read_images(path))
        elif path.suffix.lower() in VIDEO_EXT:
            rng = frames
            if path.name == SAMPLE_VIDEO:
                rng = TRAIN_FRAMES if frames is None else range(
                    frames.start, min(frames.stop, TRAIN_FRAMES.stop))
            yield from _fitted(read_video(path, rng, video_every, video_step))
        elif path.suffix.lower() in BAG_EXT or (path / "metadata.yaml").is_file():
            yield from _fitted(read_bag(path, topic, video_every))
        elif path.suffix.lower() in IMAGE_EXT and path.is_file():
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read image {path}")
            yield from _fitted(iter([Source(path.name, img)]))
        else:
            raise ValueError(f"not an image folder, image, video or bag: {item}")


def _fitted(sources: Iterator[Source]) -> Iterator[Source]:
    for src in sources:
        img = _fit(src.image)
        if img is not None:
            yield Source(src.name, img, src.stream, src.record)


# -- packs ----------------------------------------------------------------------------
def _enc(img: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    if not ok:
        raise RuntimeError(f"cannot encode {ext}")
    return buf.tobytes()


class _CachedUpsampler:
    """Wraps an upsampler; ``active`` False makes it the codec's bilinear (cheap frames)."""

    def __init__(self, upsampler):
        self.upsampler, self.active = upsampler, True

    def __call__(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        if not self.active:
            from semcomm_ros.codec.region import resize_to
            return resize_to(small, width, height)
        return self.upsampler(small, width, height)


def build_pack(sources: list[Source], out: Path, budgets_per_image: int = 2,
               bpp_range: tuple[float, float] = (0.02, 0.4), seed: int = 0,
               use_codec: bool = True, coders: tuple[str, ...] = ("",),
               kbit_range: tuple[float, float] | None = None, fps: float = 5.0,
               upsampler=None) -> Path:
    """Run the degradation at random budgets and write a pack.

    Each of the ``budgets_per_image`` passes walks all sources in order (video frames
    through one codec state per stream) with a fresh random budget per frame:
    log-uniform in ``bpp_range`` bits per pixel, or, with ``kbit_range``, in kbit/s at
    ``fps`` frames per second (bytes per frame, whatever the image size). Pass ``k``
    uses the texture coder ``coders[k % len(coders)]`` ("" = the default). With an
    ``upsampler`` (the reconstruction's prior) the stored composite is the prior's
    output, as the embedded backend sees it; the previous frame's composite of a
    stream is stored beside it (the temporal input).
    """
    if not sources:
        raise ValueError("no training images")
    rng = np.random.default_rng(seed)
    blobs: dict[str, list[bytes]] = {k: [] for k in ("orig", "comp", "weight", "sem", "prev")}
    src_idx, levels, bpps, names, coder_names = [], [], [], [], []
    q_orig, q_comp = [cv2.IMWRITE_JPEG_QUALITY, 92], [cv2.IMWRITE_JPEG_QUALITY, 90]
    stored: dict[int, int] = {}
    up = _CachedUpsampler(upsampler) if upsampler is not None else None
    bar = tqdm(total=budgets_per_image * len(sources), desc="pairs")
    for k in range(budgets_per_image):       # one pass over all sources per budget draw
        maker = PairMaker(use_codec, coders[k % len(coders)], up)
        stream = None
        for i, src in enumerate(sources):
            bar.update(1)
            if not src.stream or src.stream != stream:
                maker.reset()
                stream = src.stream
            h, w = src.image.shape[:2]
            if kbit_range:
                kbit = float(np.exp(rng.uniform(*np.log(kbit_range))))
                budget = int(kbit * 1000 / 8 / fps)
            else:
                bpp = float(np.exp(rng.uniform(*np.log(bpp_range))))
                budget = int(bpp * h * w / 8)
            nxt = sources[i + 1] if i + 1 < len(sources) else None
            if up is not None:  # the prior only where it is stored (this or the next pair)
                up.active = src.record or (nxt is not None and nxt.stream == src.stream
                                           and bool(src.stream) and nxt.record)
            pair = maker.make(src.image, max(200, budget), rng, sequence=i)
            if not src.record:
                continue
            if i not in stored:
                stored[i] = len(names)
                blobs["orig"].append(_enc(src.image, ".jpg", q_orig))
                names.append(src.name)
            blobs["comp"].append(_enc(pair.composite, ".jpg", q_comp))
            small = cv2.resize(pair.weight_map, (max(1, w // 4), max(1, h // 4)),
                               interpolation=cv2.INTER_AREA)
            blobs["weight"].append(_enc((small * 255).round().astype(np.uint8), ".png"))
            blobs["sem"].append(_enc(pair.semantic_map.astype(np.uint16), ".png"))
            blobs["prev"].append(b"" if pair.previous is None
                                 else _enc(pair.previous, ".jpg", q_comp))
            coder_names.append(maker.coder or "default")
            src_idx.append(stored[i])
            levels.append(pair.level)
            bpps.append(pair.bytes_used * 8 / (h * w))
    bar.close()
    arrays = {"src_index": np.array(src_idx, np.int32), "level": np.array(levels, np.int8),
              "bpp": np.array(bpps, np.float32), "names": np.array(names),
              "pair_source": np.array(maker.source), "coder": np.array(coder_names)}
    for key, items in blobs.items():
        arrays[f"{key}_bytes"] = np.frombuffer(b"".join(items), np.uint8)
        arrays[f"{key}_offsets"] = np.cumsum([0] + [len(b) for b in items]).astype(np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return out


@dataclass
class PackedPair:
    """A decoded training pair, arrays ready for cropping."""

    original: np.ndarray
    composite: np.ndarray
    weight_map: np.ndarray
    semantic_map: np.ndarray
    level: int
    previous: np.ndarray | None = None  # the stream's previous composite (temporal input)


def load_pack(path: Path) -> tuple[list[PackedPair], dict]:
    """Decode a whole pack into memory; returns the pairs and a small info dict."""
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}

    def blob(key: str, i: int, flags: int) -> np.ndarray:
        off = d[f"{key}_offsets"]
        img = cv2.imdecode(d[f"{key}_bytes"][off[i]:off[i + 1]], flags)
        if img is None:
            raise ValueError(f"{path}: corrupt {key} #{i}")
        return img

    origs = [blob("orig", i, cv2.IMREAD_COLOR) for i in range(len(d["names"]))]
    pairs = []
    for j, si in enumerate(d["src_index"]):
        orig = origs[si]
        size = (orig.shape[1], orig.shape[0])
        weight = cv2.resize(blob("weight", j, cv2.IMREAD_GRAYSCALE), size,
                            interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        prev = None
        if "prev_offsets" in d and d["prev_offsets"][j + 1] > d["prev_offsets"][j]:
            prev = blob("prev", j, cv2.IMREAD_COLOR)
        pairs.append(PackedPair(orig, blob("comp", j, cv2.IMREAD_COLOR), weight,
                                blob("sem", j, cv2.IMREAD_UNCHANGED), int(d["level"][j]),
                                prev))
    info = {"pairs": len(pairs), "images": len(origs), "source": str(d["pair_source"]),
            "median_bpp": float(np.median(d["bpp"])),
            "with_previous": sum(p.previous is not None for p in pairs)}
    if "coder" in d:
        names_, counts = np.unique(d["coder"], return_counts=True)
        info["coders"] = {str(n): int(c) for n, c in zip(names_, counts, strict=True)}
    return pairs, info
