"""Training pairs: what the base station would receive for an image at a byte budget.

One entry point, :class:`PairMaker` (or :func:`make_pair` for one image). It runs the
project's own codec (``semcomm_ros.codec``: encoder at the budget, then the composition
decoder) when that imports; otherwise a stand-in of the same kind (:func:`synthetic_pair`): random
"objects" kept sharp, the background sent at 1/4..1/16 resolution as low-quality WebP
and bicubic-upsampled, the semantic layer alone (a tiny gist) when the budget is
smaller still. :func:`pair_source` says which one is in use.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

log = logging.getLogger("semcomm_ros.reconstruction.degrade")

LEVEL_SEMANTIC, LEVEL_BACKGROUND, LEVEL_OBJECTS = 0, 1, 2
KEY_THRESHOLD = 0.6
BG_SCALES = (0.25, 0.125, 0.0625)
QUALITIES = (80, 60, 45, 30, 20, 10, 5)


@dataclass
class TrainingPair:
    """An original and what the decoder received for it (composition + maps)."""

    original: np.ndarray       # HxWx3 uint8 BGR
    composite: np.ndarray      # HxWx3 uint8 BGR
    weight_map: np.ndarray     # HxW float32 [0,1]
    semantic_map: np.ndarray   # HxW uint16, 0 background, class_id+1 on objects
    level: int
    bytes_used: int
    previous: np.ndarray | None = None  # the stream's previous composite (temporal input)


@lru_cache(maxsize=1)
def _codec_classes():
    """(CodecConfig, SemanticEncoder, CompositionDecoder), or None when not importable."""
    try:
        from semcomm_ros.codec import CodecConfig, CompositionDecoder, SemanticEncoder
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        log.warning("project codec not importable (%s): training pairs come from the "
                    "SYNTHETIC stand-in degradation", exc)
        return None
    return CodecConfig, SemanticEncoder, CompositionDecoder


def pair_source(use_codec: bool = True) -> str:
    """"codec" when pairs come from the project's encoder, else "synthetic"."""
    return "codec" if use_codec and _codec_classes() is not None else "synthetic"


class PairMaker:
    """Makes training pairs; keeps the codec's state across the frames of one stream.

    The project's encoder and decoder are stateful (motion detection, background and
    object reuse across frames), so consecutive video frames go through one instance,
    as on a robot; call :meth:`reset` between unrelated images or streams.
    """

    def __init__(self, use_codec: bool = True, coder: str = "", upsampler=None):
        classes = _codec_classes() if use_codec else None
        self.source = "codec" if classes else "synthetic"
        self.upsampler = upsampler  # the reconstruction's prior, applied to the composite
        self.previous: np.ndarray | None = None
        self.coder = coder
        if classes:
            config_cls, encoder_cls, decoder_cls = classes
            cfg = config_cls()
            if coder:
                cfg.texture.coder = coder
            self.encoder, self.decoder = encoder_cls(cfg), decoder_cls(cfg)

    def reset(self) -> None:
        """Forget earlier frames (start of a new stream or an unrelated image)."""
        self.previous = None
        if self.source == "codec":
            self.encoder.reset()
            self.decoder.reset()

    def make(self, image: np.ndarray, byte_budget: int, rng: np.random.Generator,
             sequence: int = 0) -> TrainingPair:
        """Encode ``image`` (HxWx3 uint8 BGR) at ``byte_budget`` bytes, decode the composite."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image.shape} "
                             f"{image.dtype}")
        if byte_budget <= 0:
            raise ValueError("byte_budget must be positive")
        if self.source == "synthetic":
            return synthetic_pair(image, byte_budget, rng)
        frame = self.encoder.encode(image, byte_budget=int(byte_budget), sequence=sequence)
        dec = self.decoder.decode(frame)
        composite = dec.image
        if self.upsampler is not None:
            from semcomm_ros.reconstruction.prior import apply_prior
            composite = apply_prior(composite, dec.coarse, self.upsampler)
        previous = self.previous
        if previous is not None and previous.shape != composite.shape:
            previous = None
        self.previous = composite
        return TrainingPair(image, composite, dec.weight_map.astype(np.float32),
                            dec.semantic_map.astype(np.uint16), int(dec.level),
                            int(frame.payload_bytes()), previous)


def make_pair(image: np.ndarray, byte_budget: int, rng: np.random.Generator,
              sequence: int = 0, use_codec: bool = True) -> TrainingPair:
    """One independent pair (a fresh codec state): see :class:`PairMaker`."""
    return PairMaker(use_codec).make(image, byte_budget, rng, sequence)


# -- the stand-in degradation --------------------------------------------------------
def _webp(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("WebP encoding failed")
    return buf.tobytes()


def _random_objects(h: int, w: int, rng: np.random.Generator):
    """Up to 4 random ellipses/boxes: semantic map (uint16), per-pixel weights (float)."""
    sem = np.zeros((h, w), np.uint16)
    weight = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 5))):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        ax, ay = rng.uniform(0.04, 0.2) * w, rng.uniform(0.06, 0.3) * h
        mask = np.zeros((h, w), np.uint8)
        if rng.random() < 0.5:
            cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 1, -1)
        else:
            cv2.rectangle(mask, (int(cx - ax), int(cy - ay)), (int(cx + ax), int(cy + ay)), 1, -1)
        sem[mask > 0] = int(rng.integers(0, 80)) + 1
        weight[mask > 0] = np.maximum(weight[mask > 0], rng.uniform(0.35, 1.0))
    return sem, weight


def synthetic_pair(image: np.ndarray, byte_budget: int,
                   rng: np.random.Generator) -> TrainingPair:
    """Stand-in for the codec: objects sharp, background coarse WebP, gist below that."""
    h, w = image.shape[:2]
    sem, obj_weight = _random_objects(h, w, rng)
    floor = 0.1
    soft = max(1.0, 0.04 * float(np.hypot(h, w)) / 3)
    weight = cv2.GaussianBlur(np.maximum(obj_weight, floor), (0, 0), soft)
    weight = np.clip(np.maximum(weight, floor), 0, 1).astype(np.float32)
    key = obj_weight >= KEY_THRESHOLD
    map_bytes = (h // 16) * (w // 16) // 4  # the codec compresses its weight map
    budget = byte_budget - 64 - map_bytes
    # gist: always sent (tiny), the composite when nothing else fits
    gw, gh = max(8, w // 32), max(6, h // 32)
    gist = _webp(cv2.resize(image, (gw, gh), interpolation=cv2.INTER_AREA), 50)
    used = len(gist)
    composite = cv2.resize(cv2.imdecode(np.frombuffer(gist, np.uint8), cv2.IMREAD_COLOR),
                           (w, h), interpolation=cv2.INTER_CUBIC)
    level = LEVEL_SEMANTIC
    share = 0.35 if key.any() else 1.0
    bg_budget = (budget - used) * share if key.any() else budget - used
    for scale in BG_SCALES:
        bw, bh = max(8, round(w * scale)), max(6, round(h * scale))
        small = cv2.resize(image, (bw, bh), interpolation=cv2.INTER_AREA)
        found = next(((q, b) for q in QUALITIES if len(b := _webp(small, q)) <= bg_budget),
                     None)
        if found:
            bits = found[1]
            used += len(bits)
            bg = cv2.imdecode(np.frombuffer(bits, np.uint8), cv2.IMREAD_COLOR)
            composite = cv2.resize(bg, (w, h), interpolation=cv2.INTER_CUBIC)
            level = LEVEL_BACKGROUND
            break
    if key.any() and level == LEVEL_BACKGROUND:
        ys, xs = np.nonzero(key)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        crop = image[y0:y1, x0:x1]
        for q in (90, 75, 60, 45, 30, 20):
            bits = _webp(crop, q)
            if used + len(bits) <= budget:
                dec = cv2.imdecode(np.frombuffer(bits, np.uint8), cv2.IMREAD_COLOR)
                region = composite[y0:y1, x0:x1]
                m = key[y0:y1, x0:x1]
                region[m] = dec[m]
                used += len(bits)
                level = LEVEL_OBJECTS
                break
    return TrainingPair(image, composite, weight, sem, level, int(used + 64 + map_bytes))
