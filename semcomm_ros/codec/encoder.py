"""The camera-side semantic encoder: detect, weigh, build layers, fit the byte budget.

``SemanticEncoder(cfg).encode(image_bgr, byte_budget, sequence) -> CodedFrame``.
The semantic layer is fitted first (shrinking the gist, dropping masks, gist, low-weight objects
and weight-map resolution, in that order, if the budget is tiny); the texture
coder then spends what is left. ``frame.bytes_used`` is the exact wire size
(``len(pack(frame))``) and stays within the budget whenever the smallest
semantic layer fits.

Pipelined detection (``detector.pipelined``, auto coder): the detector runs in a
second thread on the current frame while the texture is coded with the weight
map of the previous frame's detections; then the current detections replace the
objects and the weight map sent, and the semantic layer is fitted again into
what the texture left (the room reserved for it was the previous frame's
semantic size with a margin).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from semcomm_ros.codec.bitstream import deflate, pack, q_time
from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.detect import Detection, Detector, make_detector
from semcomm_ros.codec.frame import LEVEL_SEMANTIC, CodedFrame
from semcomm_ros.codec.semantic import (
    box_grid,
    build_objects,
    make_gist,
    set_gist,
    strip_masks,
)
from semcomm_ros.codec.texture import RegionCoder, TextureCoder, set_background
from semcomm_ros.codec.weights import build_weight_map, parse_priorities, quantise_map

log = logging.getLogger("semcomm_ros.codec.encoder")

MAP_SHARE = 0.04  # the weight map may take this share of the budget before it is coarsened
# auto coder: above this share of the budget the semantic layer sheds the masks, then the
# objects, of non-key objects (key objects always go), so thin links keep bytes for pixels
SEMANTIC_SHARE = 0.3
# pipelined detection: room kept for the current frame's semantic layer while the texture
# is coded = the previous frame's semantic bytes x this, plus SEMANTIC_MARGIN bytes
SEMANTIC_RESERVE = 1.15
SEMANTIC_MARGIN = 24


class EncoderInputError(ValueError):
    """The image given to the encoder is not a BGR8 image within the configured limits."""


def make_texture_coder(cfg: CodecConfig) -> TextureCoder:
    """The texture coder that ``cfg.texture.coder`` names."""
    if cfg.texture.coder == "video":
        from semcomm_ros.codec.video import VideoCoder

        return VideoCoder(cfg)
    if cfg.texture.coder == "auto":
        from semcomm_ros.codec.auto import AutoCoder

        return AutoCoder(cfg)
    return RegionCoder(cfg)


class SemanticEncoder:
    """Stateful encoder: one instance per camera stream."""

    def __init__(self, cfg: CodecConfig | None = None, detector: Detector | None = None):
        """Build the detector (or use ``detector``) and the texture coder."""
        self.cfg = cfg or CodecConfig()
        self.cfg.validate()
        self.detector = detector or make_detector(self.cfg.detector)
        self._priorities = parse_priorities(self.cfg.weights.class_priorities)
        self.coder = make_texture_coder(self.cfg)
        self.last_weight_map = np.zeros((0, 0), np.float32)
        self.last_detections: list[Detection] = []
        self._frames = 0
        self._last_size: tuple[int, int] | None = None  # image size of last_detections
        self._pool: ThreadPoolExecutor | None = None    # the pipelined detector's thread

    def update_config(self, cfg: CodecConfig) -> None:
        """Apply a new configuration; rebuilds only the parts whose section changed."""
        cfg.validate()
        old, self.cfg = self.cfg, cfg
        if cfg.detector != old.detector:
            self.detector = make_detector(cfg.detector)
            self._frames = 0
        self._priorities = parse_priorities(cfg.weights.class_priorities)
        if cfg.texture != old.texture or cfg.rate != old.rate:
            self.coder = make_texture_coder(cfg)
        else:
            self.coder.cfg = cfg

    def reset(self) -> None:
        """Make the next frame self-contained (e.g. a decoder restarted)."""
        self.coder.reset()

    def feedback(self, sequence: int, ok: bool) -> None:
        """A receiver report for ``sequence``: decoded (``ok``) or dropped.

        Every coder refreshes what a lost frame carried: the auto coder keeps its
        model of the decoder in step (a sequence never reported while a later one
        is counts as lost) and codes against an acknowledged canvas; the video
        coder restarts its stream with an IDR; the region coder resends a lost
        background.
        """
        handler = getattr(self.coder, "feedback", None)
        if handler is not None:
            handler(int(sequence) & 0xFFFFFFFF, bool(ok))

    def _check_image(self, image: np.ndarray) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3:
            raise EncoderInputError("image must be a HxWx3 uint8 BGR array")
        limit = self.cfg.limits.max_dimension
        if not (16 <= image.shape[0] <= limit and 16 <= image.shape[1] <= limit):
            raise EncoderInputError(f"image size {image.shape[1]}x{image.shape[0]} outside "
                                    f"16..{limit}")

    def encode(self, image: np.ndarray, byte_budget: int | None = None,
               sequence: int = 0, source_encoding: str = "bgr8") -> CodedFrame:
        """Code one BGR8 frame within ``byte_budget`` bytes (default: rate.default_budget).

        ``source_encoding`` names the camera's image encoding (the frame carries it, and
        its wire size counts in the budget).
        """
        start = time.perf_counter()
        self._check_image(image)
        image = np.ascontiguousarray(image)
        budget = self.cfg.rate.default_budget if byte_budget is None else int(byte_budget)
        if budget < 0:
            raise EncoderInputError("byte_budget must be >= 0")
        height, width = image.shape[:2]
        detect_now = self._frames % self.cfg.detector.every_n_frames == 0 or \
            any(d.mask is not None and d.mask.shape != (height, width)
                for d in self.last_detections)
        pending = None
        if detect_now and self._pipelined((height, width)):
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="semcomm-detect")
            pending = self._pool.submit(self.detector.detect, image)
        elif detect_now:
            self.last_detections = self.detector.detect(image)
        self._last_size = (height, width)
        self._frames += 1
        frame = CodedFrame(sequence=int(sequence) & 0xFFFFFFFF, source_width=width,
                           source_height=height, byte_budget=min(budget, 0xFFFFFFFF),
                           source_encoding=source_encoding)
        weight_map = self._semantic_layer(frame, self.last_detections, width, height, budget)
        video = self.cfg.texture.coder == "video"
        region = self.cfg.texture.coder == "region"
        gist = make_gist(image, self.cfg.texture.gist_width, self.cfg.texture.gist_quality) \
            if region or video else ("", 0, 0, b"")
        if region:  # the video picture (auto: the canvas) makes the gist redundant
            set_gist(frame, gist)
        semantic_bytes = self._fit_semantics(frame, image, weight_map, budget)
        if self.cfg.texture.coder == "auto" and semantic_bytes > SEMANTIC_SHARE * budget:
            semantic_bytes = self._shed_minor_objects(frame, int(SEMANTIC_SHARE * budget))
        if pending is not None:  # room for the current frame's semantic layer
            semantic_bytes = int(semantic_bytes * SEMANTIC_RESERVE) + SEMANTIC_MARGIN
        try:
            frame.level = self.coder.code(image, frame, weight_map, budget - semantic_bytes)
        finally:
            if pending is not None:
                self.last_detections = pending.result()
        if pending is not None:  # the current objects and weight map replace the previous
            self._semantic_layer(frame, self.last_detections, width, height, budget)
            if self._packed(frame) > budget:  # minor objects first, key objects last
                self._shed_minor_objects(frame, budget)
            if self._packed(frame) > budget:
                self._fit_semantics(frame, image, self.last_weight_map, budget)
        if video and not frame.background and gist[3]:
            set_gist(frame, gist)  # no video packet this time: send the gist if it fits
            if len(pack(frame, self.cfg.limits)) > budget:
                set_gist(frame, ("", 0, 0, b""))
        frame.encode_time_ms = q_time((time.perf_counter() - start) * 1000.0)
        size = len(pack(frame, self.cfg.limits))
        while size > budget and self._drop_one_texture(frame):
            size = len(pack(frame, self.cfg.limits))
        frame.bytes_used = size
        return frame

    def _pipelined(self, size: tuple[int, int]) -> bool:
        """Run this frame's detector beside the texture coder.

        Needs a previous frame of the same size, whose detections weigh the texture
        meanwhile.
        """
        return self.cfg.detector.pipelined and self.cfg.texture.coder == "auto" \
            and self._last_size == size

    def _packed(self, frame: CodedFrame) -> int:
        return len(pack(frame, self.cfg.limits))

    def _semantic_layer(self, frame: CodedFrame, detections: list[Detection], width: int,
                        height: int, budget: int) -> np.ndarray:
        """Weight map, objects and quantised map of ``detections`` into ``frame``."""
        weight_map, weights = build_weight_map(detections, height, width, self.cfg.weights,
                                               self._priorities)
        self.last_weight_map = weight_map
        frame.objects = build_objects(detections, weights, height, width,
                                      self.cfg.texture.object_padding, self.cfg.texture.mask_cells,
                                      box_grid(width, height, budget))
        frame.weight_map = self._weight_map_for(weight_map, budget)
        return weight_map

    def _weight_map_for(self, weight_map: np.ndarray, budget: int) -> np.ndarray:
        """Quantised map, coarser (cell x2, up to 128 px) while it costs > 4 % of the budget."""
        cell = self.cfg.weights.map_cell
        small = quantise_map(weight_map, cell)
        while cell < 128 and len(deflate(small.tobytes())) > MAP_SHARE * budget:
            cell *= 2
            small = quantise_map(weight_map, cell)
        return small

    def _drop_one_texture(self, frame: CodedFrame) -> bool:
        """Safety net when the texture estimate overshot: remove the least important layer."""
        log.debug("frame %d over budget after texture coding; dropping a layer", frame.sequence)
        if self.coder.drop_texture(frame):
            return True
        if frame.background:
            set_background(frame, None)
            self.coder.reset()
            frame.level = LEVEL_SEMANTIC
            return True
        return False

    def _shed_minor_objects(self, frame: CodedFrame, target: int) -> int:
        """Drop masks, then whole objects, of non-key objects (lowest weight first)."""
        limits = self.cfg.limits
        key = self.cfg.weights.key_threshold
        size = len(pack(frame, limits))
        minor = sorted((o for o in frame.objects if o.weight < key), key=lambda o: o.weight)
        for obj in minor:
            if size <= target:
                return size
            if obj.mask:
                obj.mask, obj.mask_width, obj.mask_height = b"", 0, 0
                size = len(pack(frame, limits))
        for obj in minor:
            if size <= target:
                break
            frame.objects.remove(obj)
            size = len(pack(frame, limits))
        return size

    def _fit_semantics(self, frame: CodedFrame, image: np.ndarray, weight_map: np.ndarray,
                       budget: int) -> int:
        """Shrink the semantic layer until it fits the budget; return its packed size."""
        limits = self.cfg.limits
        size = len(pack(frame, limits))
        if size <= budget:
            return size
        steps = [lambda: frame.gist and set_gist(frame, make_gist(image, 16, 20)),
                 lambda: strip_masks(frame),
                 lambda: set_gist(frame, ("", 0, 0, b""))]
        for step in steps:
            step()
            size = len(pack(frame, limits))
            if size <= budget:
                return size
        while frame.objects:
            frame.objects.pop()  # lowest weight last
            size = len(pack(frame, limits))
            if size <= budget:
                return size
        cell = self.cfg.weights.map_cell
        while size > budget and cell < 1024:
            cell *= 2
            frame.weight_map = quantise_map(weight_map, cell)
            size = len(pack(frame, limits))
        return size
