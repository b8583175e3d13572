"""The base-station composition decoder (no diffusion) with loss concealment.

``CompositionDecoder(cfg).decode(frame) -> DecodedFrame`` composes the picture
from what arrived: the background layer (or the one held from an earlier
frame, or the gist, or grey), then every object's texture pasted through its
mask. An object whose texture is missing is concealed with the last texture
seen for the same class nearby, moved to its new box. A frame that fails
validation or whose layers do not decode raises :class:`BitstreamError` and
leaves the decoder unchanged; :meth:`CompositionDecoder.conceal` then gives the
last good picture. Frames of the auto coder (format 2 texture modes skip /
still / video) build on a canvas the decoder holds (semcomm_ros/codec/canvas.py);
one whose reference is not held raises
:class:`~semcomm_ros.codec.frame.MissingReference` (a BitstreamError), state
unchanged. The output is the diffusion decoder's input and the
fallback picture when no model is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semcomm_ros.codec import imagecodec
from semcomm_ros.codec.bitstream import validate_frame
from semcomm_ros.codec.canvas import CanvasRing, PartBuffer, apply_texture, uses_canvas
from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.frame import (
    MODE_PART,
    MODE_SKIP,
    BitstreamError,
    CodedFrame,
    CodedObject,
)
from semcomm_ros.codec.masks import cells_to_alpha, rle_decode
from semcomm_ros.codec.region import resize_to
from semcomm_ros.codec.weights import dequantise_map

GREY = 128
CACHE_SIZE = 32


@dataclass
class DecodedFrame:
    """The composed picture and the semantics it came with, at source size."""

    image: np.ndarray                     # HxWx3 uint8 BGR
    weight_map: np.ndarray                # HxW float32 in [0, 1]
    semantic_map: np.ndarray              # HxW uint16: 0 background, class_id + 1 on objects
    objects: list[CodedObject] = field(default_factory=list)
    level: int = 0
    sequence: int = 0
    concealed: bool = False               # some region shows older content than this frame
    updated: bool = True                  # this frame brought new texture (temporal scalability:
    #                                       False for a skip, a part of a split still, or the
    #                                       semantic layer alone)
    coarse: np.ndarray | None = None      # the background picture as decoded at its coded
    #                                       size, before it was scaled up to make ``image``
    #                                       (None when not known): the reconstruction's
    #                                       upsampler starts from it


def brings_texture(frame: CodedFrame) -> bool:
    """Whether ``frame`` updates the picture's texture (else the picture is an older one's).

    A thin link may send fewer, better pictures (a still split over several
    frames, skips): those frames still carry the semantic layer, and the
    FrameReport says that they did not update the picture.
    """
    if frame.texture_mode in (MODE_PART, MODE_SKIP):
        return False
    return bool(frame.background) or any(obj.texture for obj in frame.objects)


@dataclass
class _CachedObject:
    class_id: int
    box: tuple[int, int, int, int]
    texture: np.ndarray  # BGR at box size


def _box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def edge_ramp(width: int, height: int, ramp: int = 3) -> np.ndarray:
    """Float32 (height, width) alpha that is 1 inside and ramps to ~0 over ``ramp`` px."""
    xs = np.minimum(np.arange(width) + 1, np.arange(width)[::-1] + 1) / (ramp + 1)
    ys = np.minimum(np.arange(height) + 1, np.arange(height)[::-1] + 1) / (ramp + 1)
    return np.clip(np.minimum.outer(ys, xs), 0.0, 1.0).astype(np.float32)


def object_alpha(obj: CodedObject, max_cells: int) -> np.ndarray:
    """Float32 alpha over the object's box: its mask (feathered) or the whole box."""
    w, h = obj.box[2], obj.box[3]
    alpha = edge_ramp(w, h)
    if obj.mask:
        cells = rle_decode(obj.mask, obj.mask_width, obj.mask_height, max_cells)
        feather = min(8.0, 0.35 * max(w / obj.mask_width, h / obj.mask_height))
        alpha = np.minimum(alpha, cells_to_alpha(cells, w, h, feather))
    return alpha


def paste(canvas: np.ndarray, texture: np.ndarray, box: tuple[int, int, int, int],
          alpha: np.ndarray) -> None:
    """Blend ``texture`` (box size) into ``canvas`` at ``box`` through ``alpha``."""
    x, y, w, h = box
    region = canvas[y:y + h, x:x + w].astype(np.float32)
    a = alpha[..., None]
    canvas[y:y + h, x:x + w] = (a * texture + (1.0 - a) * region + 0.5).astype(np.uint8)


class CompositionDecoder:
    """Stateful decoder: one instance per stream."""

    def __init__(self, cfg: CodecConfig | None = None):
        """Start with nothing held."""
        self.cfg = cfg or CodecConfig()
        self.cfg.validate()
        self._video = None
        self._ring = CanvasRing(self.cfg.texture.reference_frames)
        self._parts = PartBuffer()
        self.reset()

    def reset(self) -> None:
        """Forget everything held (background, last picture, object cache, video state)."""
        self._background: np.ndarray | None = None
        self._background_small: np.ndarray | None = None
        self._coarse: np.ndarray | None = None
        self._last: DecodedFrame | None = None
        self._cache: list[_CachedObject] = []
        self._ring.clear()
        self._parts.clear()
        if self._video is not None:
            self._video.reset()

    def update_config(self, cfg: CodecConfig) -> None:
        """Apply a new configuration (held pictures are kept)."""
        cfg.validate()
        self.cfg = cfg
        self._ring.size = cfg.texture.reference_frames

    @property
    def canvases(self) -> CanvasRing:
        """The canvases held for frames that name a reference (auto coder)."""
        return self._ring

    @property
    def last(self) -> DecodedFrame | None:
        """The last decoded (or concealed) frame."""
        return self._last

    def conceal(self, sequence: int | None = None) -> DecodedFrame | None:
        """The last good picture, flagged concealed (for a frame that never arrived)."""
        if self._last is None:
            return None
        last = self._last
        self._last = DecodedFrame(last.image, last.weight_map, last.semantic_map, last.objects,
                                  last.level, last.sequence if sequence is None else sequence,
                                  True, False)
        return self._last

    def _base_picture(self, frame: CodedFrame, height: int,
                      width: int) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """(canvas, new background to hold or None, concealed) for this frame.

        Sets ``self._coarse`` to the coded-size picture the canvas was scaled from.
        """
        self._coarse = None
        codec = frame.background_codec
        if codec == "h264":
            if self._video is None:
                from semcomm_ros.codec.video import VideoDecoder

                self._video = VideoDecoder(self.cfg)
            image, healthy = self._video.decode_frame(frame)
            return image, None, not healthy
        if codec:
            bg = imagecodec.decode(frame.background, codec, frame.background_width,
                                   frame.background_height)
            self._coarse = bg
            bg = resize_to(bg, width, height)
            return bg.copy(), bg, False
        if self._background is not None and self._background.shape[:2] == (height, width):
            self._coarse = self._background_small
            return self._background.copy(), None, False
        if self._video is not None and self._last is not None \
                and self._last.image.shape[:2] == (height, width):
            # A video stream skipped its packet: the last picture beats the tiny gist.
            return self._last.image.copy(), None, True
        if frame.gist_codec:
            gist = imagecodec.decode(frame.gist, frame.gist_codec, frame.gist_width,
                                     frame.gist_height)
            return resize_to(gist, width, height).copy(), None, False
        if self._last is not None and self._last.image.shape[:2] == (height, width):
            return self._last.image.copy(), None, True
        return np.full((height, width, 3), GREY, np.uint8), None, False

    def decode(self, frame: CodedFrame) -> DecodedFrame:
        """Compose one frame; BitstreamError (state unchanged) when it is malformed."""
        limits = self.cfg.limits
        validate_frame(frame, limits)
        height, width = frame.source_height, frame.source_width
        if frame.weight_map.size and (frame.weight_map.shape[0] > height
                                      or frame.weight_map.shape[1] > width):
            raise BitstreamError("weight map larger than the source image")
        held = None  # the canvas this frame leaves for later frames to reference
        self._coarse = None  # set by the paths that scale a coded picture up
        parts = None  # the part buffer after this frame, if it is a part
        try:
            if frame.texture_mode == MODE_PART:
                # A part of a still to come: the picture stays as it is.
                parts = self._parts.staged(frame, limits.max_blob_bytes)
                if self._last is not None and self._last.image.shape[:2] == (height, width):
                    canvas = self._last.image.copy()
                else:
                    canvas = np.full((height, width, 3), GREY, np.uint8)
                new_background, concealed = None, False
            elif uses_canvas(frame):
                held = apply_texture(frame, self._ring, self._parts)
                canvas, new_background, concealed = held.image.copy(), None, False
                self._coarse = held.small
            else:
                canvas, new_background, concealed = self._base_picture(frame, height, width)
        except BitstreamError:
            raise
        except Exception as exc:  # noqa: BLE001 - codec libraries raise their own types
            raise BitstreamError(f"background layer does not decode: {exc}") from exc
        semantic = np.zeros((height, width), np.uint16)
        new_cache: list[_CachedObject] = []
        for obj in reversed(frame.objects):  # lowest weight first: key objects end on top
            alpha = object_alpha(obj, limits.max_mask_cells)
            x, y, w, h = obj.box
            texture = None
            if obj.texture:
                texture = imagecodec.decode(obj.texture, obj.texture_codec, obj.texture_width,
                                            obj.texture_height)
                texture = resize_to(texture, w, h)
                new_cache.append(_CachedObject(obj.class_id, obj.box, texture))
            elif frame.background_codec != "h264" and held is None and parts is None:
                texture = self._from_cache(obj)
                concealed = concealed or texture is not None
            if texture is not None:
                paste(canvas, texture, obj.box, alpha)
            semantic[y:y + h, x:x + w][alpha >= 0.5] = obj.class_id + 1
        weight_map = dequantise_map(frame.weight_map, height, width)
        # Commit: nothing above raised, so the held state may change now.
        if new_background is not None:
            self._background = new_background
            self._background_small = self._coarse
        if held is not None:
            self._ring.put(frame.sequence, held)
        if parts is not None:
            self._parts.commit(parts)
        elif uses_canvas(frame):
            self._parts.clear()
        if self._video is not None and frame.background_codec == "h264":
            self._video.commit()
        self._cache = (new_cache + [c for c in self._cache
                                    if all(_box_iou(c.box, n.box) < 0.3 for n in new_cache)]
                       )[:CACHE_SIZE]
        self._last = DecodedFrame(canvas, weight_map, semantic, list(frame.objects), frame.level,
                                  frame.sequence, concealed, brings_texture(frame),
                                  None if parts is not None else self._coarse)
        return self._last

    def _from_cache(self, obj: CodedObject) -> np.ndarray | None:
        """Last texture of the same class that overlapped this box, resized to it."""
        best, best_iou = None, 0.05
        for cached in self._cache:
            if cached.class_id == obj.class_id:
                iou = _box_iou(cached.box, obj.box)
                if iou > best_iou:
                    best, best_iou = cached, iou
        if best is None:
            return None
        return resize_to(best.texture, obj.box[2], obj.box[3])
