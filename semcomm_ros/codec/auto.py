"""The auto texture coder: rate-distortion decisions against an exact model of the decoder.

For every frame the coder builds candidate texture layers, decodes each with
the base station's own code (:func:`semcomm_ros.codec.canvas.apply_texture`
semantics), scores it by weight-map-weighted MSE against the camera image, and
sends the best one that fits the byte budget:

* ``still``: the whole frame as one WebP/JPEG at the best scale and quality
  that fit (always evaluated: the chosen layer is never worse, by this measure,
  than a per-frame still of the bytes available);
* ``video``: an H.264 P-frame against a synthetic key frame of the canvas the
  decoder holds for the reference (canvas.py), steered by x264 ROI quantiser
  offsets from the weight map;
* ``skip``: the reference canvas unchanged (semantic layer only).

The reference is the newest frame the decoder may hold: the coder keeps the
canvas of every frame it sent (a small ring, ``texture.reference_frames``) and
follows receiver feedback (:meth:`AutoCoder.feedback`): a frame reported lost
or undecodable, or never reported while a later one was, is not used again, nor
is anything built on it, so a loss heals one round trip + one frame after it is
reported. Without feedback for ``texture.feedback_timeout`` frames the link
counts as one-way and an intra (still) frame goes every
``texture.refresh_period`` frames.

The weight of each pixel is the larger of the current weight map and the one of
the reference frame, so an area an object has left (its ghost on the canvas)
weighs as much as the object did.
"""
from __future__ import annotations

import logging
import math
import zlib
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from semcomm_ros.codec import imagecodec
from semcomm_ros.codec.bitstream import pack
from semcomm_ros.codec.canvas import (
    Canvas,
    coded_size,
    decode_pair,
    encode_prime,
    open_x264,
    to_yuv,
)
from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.frame import (
    LEVEL_BACKGROUND,
    LEVEL_FULL,
    LEVEL_SEMANTIC,
    MODE_INDEPENDENT,
    MODE_NAMES,
    MODE_PART,
    MODE_SKIP,
    MODE_STILL,
    MODE_VIDEO,
    BitstreamError,
    CodedFrame,
)
from semcomm_ros.codec.region import resize_to, scale_ladder
from semcomm_ros.codec.texture import TextureCoder

log = logging.getLogger("semcomm_ros.codec.auto")

PENDING, ACKED, LOST = 0, 1, 2
VIDEO_SCALES = (1.0, 0.5, 0.25)
Q_MIN, Q_MAX = 4 * 10, 4 * 51       # video_q range searched (CRF 10 .. 51, quarter steps)
MAX_TRIES = 3                        # encodes per candidate search
MIN_LAYER_BYTES = 40                 # below this a still layer is not attempted
MIN_VIDEO_BYTES = 12                 # below this a video layer is not attempted
VIDEO_FAILURES = 3                   # video frames failing on held pictures before stills only
STILL_PROBE_EVERY = 3                # frames between tries of a neighbouring still scale
VIDEO_PROBE_EVERY = 3                # frames between tries of a neighbouring video setting
ROI_LADDER = (0.0, 0.25, 0.5, 0.75, 1.0)  # x264 ROI strengths tried, x texture.video_roi_strength
PART_SPANS = (2, 3, 4, 6, 8, 12, 16)     # frames a split still may span, shortest first
PART_MIN_QUALITY = 10                    # a split still spans more frames until it reaches this


@dataclass
class _Unit:
    """A still split over consecutive frames (thin links): what is left to send."""

    cand: _Candidate
    left: bytes
    sent: list[int]
FILL = 0.97                          # a search stops once a fit uses this share of its room
LOW_FILL = 0.9                       # below this share, a search may take one more try
SMALL_EXTRA_TRIES = 2                # extra encodes per search for a scaled-down P-frame
OVERHEAD_PROBE = 16383               # layer length the overhead is measured with (2-byte varint)
RESCUE_FILL = 0.85                   # aim of the extra try when nothing fitted


@dataclass
class _Sent:
    """What the encoder sent for one sequence: the canvas it leaves, and what it built on."""

    canvas: Canvas
    ref: int | None
    weight: np.ndarray
    grey: np.ndarray | None = None  # small grey of the camera image (global motion)
    state: int = PENDING
    mode: int = MODE_STILL


@dataclass
class _Candidate:
    mode: int
    canvas: Canvas
    distortion: float
    codec: str = ""
    data: bytes = b""
    width: int = 0
    height: int = 0
    quality: int = 0
    video_q: int = 0
    prime_crc: int = 0
    setting: tuple[int, int] = (0, 0)  # video: (scale offset, ROI ladder index)


MOTION_WIDTH = 96  # width of the grey images global motion is measured on


def motion_grey(image: np.ndarray) -> np.ndarray:
    """Small float grey copy of a camera image, for global-motion estimation."""
    height = max(8, round(image.shape[0] * MOTION_WIDTH / image.shape[1]))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (MOTION_WIDTH, height), interpolation=cv2.INTER_AREA).astype(
        np.float32)


def global_motion(before: np.ndarray, after: np.ndarray,
                  shape: tuple[int, ...]) -> tuple[float, float]:
    """Camera translation from ``before`` to ``after`` (phase correlation), source pixels.

    (0, 0) when the correlation peak is weak (no dominant global motion, e.g. a
    static camera with people walking).
    """
    if before.shape != after.shape:
        return (0.0, 0.0)
    window = cv2.createHanningWindow((before.shape[1], before.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(before, after, window)
    if response < 0.3 or (abs(dx) < 1.0 and abs(dy) < 1.0):
        return (0.0, 0.0)
    scale = shape[1] / before.shape[1]
    return (float(dx * scale), float(dy * scale))


def shift_map(weights: np.ndarray, motion: tuple[float, float]) -> np.ndarray:
    """``weights`` translated by ``motion`` (pixels); what enters is 0."""
    if motion == (0.0, 0.0):
        return weights
    matrix = np.float32([[1, 0, motion[0]], [0, 1, motion[1]]])
    return cv2.warpAffine(weights, matrix, (weights.shape[1], weights.shape[0]),
                          flags=cv2.INTER_LINEAR, borderValue=0.0)


def weighted_mse(image: np.ndarray, canvas: np.ndarray, weights3: np.ndarray,
                 total: float) -> float:
    """Weighted MSE over all pixels and channels (``weights3``: weights repeated per channel)."""
    diff = cv2.absdiff(image, canvas).reshape(-1).astype(np.float32)
    return float(np.dot(diff * diff, weights3) / total)


class _Search:
    """Secant search of an integer quality knob so that a coded size fits ``room`` bytes.

    ``encode(q)`` returns (size, payload); the size grows with q when ``rising``
    (image quality) and shrinks with it otherwise (CRF). The search keeps the
    largest result that fits, within ``tries`` encodes plus one last try at the
    smallest setting when nothing fitted. It remembers the last point and the
    log-size slope, so the next frame's first guess is usually close.
    """

    def __init__(self, lo: int, hi: int, rising: bool, start: int, slope: float):
        self.rising, self.slope = rising, slope
        self.sign = 1 if rising else -1
        self.lo_u, self.hi_u = sorted((self.sign * lo, self.sign * hi))  # size grows with u
        self.point: tuple[int, float] = (self.sign * start, float("nan"))  # (u, log size)

    def _guess(self, u: int, log_size: float, room: int, slope: float) -> float:
        return u + (math.log(room * 0.97) - log_size) / slope

    def _rescue(self, tried: list[tuple[int, float]], room: int, lo_u: int, hi_u: int) -> int:
        """A setting aimed at RESCUE_FILL of the room, at least twice the last step below."""
        u, log_size = min(tried)  # the smallest setting tried (all were over the room)
        slopes = [(lb - la) / (ub - ua) for (ua, la), (ub, lb) in zip(tried, tried[1:])
                  if ub != ua and (lb - la) / (ub - ua) > 0.005]
        slope = max([self.slope] + slopes)  # (the steeper estimate steps less: not too far)
        target = u + (math.log(room * RESCUE_FILL) - log_size) / slope
        step = abs(tried[-1][0] - tried[-2][0]) if len(tried) >= 2 else 1
        guess = min(math.floor(target), u - max(2, 2 * step))
        return int(min(max(guess, self.lo_u), hi_u))

    def run(self, encode, room: int, tries: int = MAX_TRIES):
        """The (q, size, payload) that fits best, or None."""
        sign = self.sign
        best = None  # (q, size, payload)
        lo_u, hi_u = self.lo_u, self.hi_u
        u0, l0 = self.point
        u = u0 if math.isnan(l0) else math.floor(self._guess(u0, l0, room, self.slope))
        u = int(min(max(u, lo_u), hi_u))
        tried: list[tuple[int, float]] = []
        while len(tried) < tries + 2:
            if best is None and len(tried) == tries + 1:
                u = self.lo_u  # nothing fitted: one last try at the smallest setting
            elif best is None and len(tried) == tries:
                # Nothing fitted yet (the secant crept up on the room from above): one wider
                # step, aimed well inside the room, before falling back to the smallest setting.
                u = self._rescue(tried, room, lo_u, hi_u)
            size, payload = encode(sign * u)
            tried.append((u, math.log(max(size, 1))))
            if size <= room:
                if best is None or size > best[1]:
                    best = (sign * u, size, payload)
                lo_u = u + 1
                if size >= FILL * room:
                    break
            else:
                hi_u = u - 1
            if lo_u > hi_u:
                break
            if len(tried) >= tries:
                if best is not None and (best[1] >= LOW_FILL * room or len(tried) > tries):
                    break  # (one extra try when the best fit leaves much of the room unused)
                if best is None and (self.lo_u > hi_u or len(tried) > tries + 1):
                    break
                if best is None:
                    continue
            slope = self.slope
            if len(tried) >= 2:
                (ua, la), (ub, lb) = tried[-2], tried[-1]
                if ua != ub and (lb - la) / (ub - ua) > 0.005:
                    slope = (lb - la) / (ub - ua)
            u = int(min(max(math.floor(self._guess(u, tried[-1][1], room, slope)), lo_u), hi_u))
        if len(tried) >= 2:
            (ua, la), (ub, lb) = min(tried), max(tried)
            if ua != ub and 0.005 < (lb - la) / (ub - ua) < 1.0:
                self.slope = 0.5 * self.slope + 0.5 * (lb - la) / (ub - ua)
        # remember the point nearest to the room for the next frame's first guess
        self.point = min(tried, key=lambda t: abs(t[1] - math.log(room)))
        return best


class AutoCoder(TextureCoder):
    """Skip / still / video chosen per frame by weighted distortion, against the decoder model."""

    def __init__(self, cfg: CodecConfig):
        """Nothing sent yet: the first frame is intra (still)."""
        self.cfg = cfg
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._frames = 0
        self._last_feedback: int | None = None
        self._since_intra = 0
        self._still_index = 2
        self._still_searches: dict[int, _Search] = {}
        self._video_searches: dict[tuple[float, int], _Search] = {}
        self._video_setting = (0, 2)  # (scale offset from the bit-rate rule, ROI ladder index)
        self._probe_turn = 0
        self._unit: _Unit | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._grey: np.ndarray | None = None
        self._video_failures = 0
        self.video_disabled = False  # the decoder cannot follow the video mode (see _note_video)
        self.global_motion = (0.0, 0.0)  # camera motion since the reference, source pixels
        self._part_states: OrderedDict[int, int] = OrderedDict()
        self.modes: Counter = Counter()
        self.last_mode = MODE_INDEPENDENT
        self.last_ref: int | None = None
        self.last_distortion: dict[str, float] = {}  # weighted MSE of each candidate
        self.last_weights: np.ndarray | None = None  # the per-pixel weights behind it

    # ------------------------------------------------------------------ decoder model

    def reset(self) -> None:
        """Forget every canvas: the next frame is intra."""
        self._sent.clear()
        self._since_intra = 0
        self._unit = None

    def canvas(self, sequence: int) -> np.ndarray | None:
        """The canvas the decoder holds after ``sequence`` (if it arrived), or None."""
        entry = self._sent.get(sequence)
        return None if entry is None else entry.canvas.image

    def feedback(self, sequence: int, ok: bool) -> None:
        """A receiver report: ``sequence`` arrived and decoded (``ok``) or not.

        Frames sent before ``sequence`` that were never reported count as lost.
        """
        self._last_feedback = self._frames
        if sequence in self._part_states:
            self._part_states[sequence] = ACKED if ok else LOST
            for seq, state in self._part_states.items():
                if seq == sequence:
                    break
                if state == PENDING:
                    self._part_states[seq] = LOST
        entry = self._sent.get(sequence)
        if entry is not None:
            entry.state = ACKED if ok else LOST
            if entry.mode == MODE_VIDEO:
                self._note_video(ok, entry)
        for seq, other in self._sent.items():
            if (sequence - seq) & 0xFFFFFFFF > 0x7FFFFFFF or seq == sequence:
                break  # (sent after the reported frame)
            if other.state == PENDING:
                other.state = LOST

    def _note_video(self, ok: bool, entry: _Sent) -> None:
        """Count video frames that failed on a reference the decoder confirmed holding.

        Its libx264 then regenerates another synthetic key frame (ReferenceMismatch);
        after VIDEO_FAILURES of them in a row the coder sends stills (and skips) only.
        """
        ref = self._sent.get(entry.ref) if entry.ref is not None else None
        if ok:
            self._video_failures = 0
        elif ref is not None and ref.state == ACKED:
            self._video_failures += 1
            if self._video_failures >= VIDEO_FAILURES and not self.video_disabled:
                self.video_disabled = True
                log.warning("%d video frames failed at the decoder on pictures it holds (another "
                            "libx264 build?); the auto coder goes on with stills only",
                            self._video_failures)

    def _usable(self, sequence: int, depth: int = 0) -> bool:
        entry = self._sent.get(sequence)
        if entry is None or entry.state == LOST or depth > len(self._sent):
            return False
        if entry.ref is None:
            return True
        if entry.ref in self._sent:
            # Built on a frame known lost: the decoder cannot hold it, whatever a report says
            # (a report that only tells arrival, not decoding, must not mislead the model).
            return self._usable(entry.ref, depth + 1)
        return True  # its reference left the ring usable (see _evict)

    def one_way(self) -> bool:
        """True while no receiver feedback has come for ``texture.feedback_timeout`` frames."""
        return (self._last_feedback is None
                or self._frames - self._last_feedback > self.cfg.texture.feedback_timeout)

    def _choose_ref(self) -> int | None:
        if self.one_way() and self._since_intra >= self.cfg.texture.refresh_period - 1:
            return None  # periodic refresh: nothing confirms what the decoder holds
        for seq in reversed(self._sent):
            if self._usable(seq):
                return seq
        return None

    # ------------------------------------------------------------------ coding

    def code(self, image: np.ndarray, frame: CodedFrame, weight_map: np.ndarray,
             available: int) -> int:
        """Pick and store the best texture layer for ``frame`` (budget: ``frame.byte_budget``)."""
        limits = self.cfg.limits
        budget = frame.byte_budget
        self._frames += 1
        for old in [s for s in self._sent if not 1 <= (frame.sequence - s) & 0xFFFFFFFF
                    <= limits.max_ref_distance]:
            del self._sent[old]  # the sequence went back (a restart) or jumped far
        ref = self._choose_ref()
        entry = self._sent.get(ref) if ref is not None else None
        if entry is not None and entry.canvas.image.shape != image.shape:
            ref, entry = None, None
        weights = weight_map.astype(np.float32)
        self._grey = motion_grey(image)
        self.global_motion = (0.0, 0.0)
        if entry is not None:
            held = entry.weight
            if entry.grey is not None:
                # A panning camera moves what the reference showed: move its weights too, so
                # the boost lands where the ghost would be, not on the scene that slid in.
                self.global_motion = global_motion(entry.grey, self._grey, image.shape)
                held = shift_map(held, self.global_motion)
            weights = np.maximum(weights, held)
        self.last_weights = weights
        weights3 = np.repeat(weights.reshape(-1), 3)
        total = float(weights3.sum()) or 1.0
        _reset_texture(frame)
        base = len(pack(frame, limits))
        if self._unit is not None:
            if any(self._part_states.get(s) == LOST for s in self._unit.sent):
                self._unit = None  # a part was lost: the decoder cannot complete this still
            else:
                return self._continue_unit(frame, base, weight_map)
        cands: list[_Candidate] = []
        if entry is not None and base + 5 <= budget:
            cands.append(_Candidate(MODE_SKIP, entry.canvas,
                                    weighted_mse(image, entry.canvas.image, weights3, total)))
        # Room for the layer's bytes: the frame packed with the layer's fields at their largest
        # (sizes, quality, video_q, prime_crc), so a layer that fits the room fits the budget.
        room_still = budget - self._overhead(frame, MODE_STILL, None, image.shape, base + 9)
        pending = None
        if room_still >= MIN_LAYER_BYTES:
            # The still search runs beside the video search (both codecs release the GIL).
            pending = self._pool().submit(self._still, image, room_still, weights3, total)
        room_video = budget - self._overhead(frame, MODE_VIDEO, ref, image.shape, base + 19)
        videos = []
        if entry is not None and room_video >= MIN_VIDEO_BYTES and not self.video_disabled:
            settings = [self._video_setting]
            if self._frames % VIDEO_PROBE_EVERY == 1:
                settings.append(self._probe_setting())
            for setting in settings:
                video = self._video(image, entry.canvas, weights, room_video, weights3, total,
                                    setting)
                if video is not None:
                    videos.append(video)
        if videos:
            best_video = min(videos, key=lambda c: c.distortion)
            self._video_setting = best_video.setting  # a probe that won becomes the setting
            cands.append(best_video)
        still = pending.result() if pending is not None else None
        if still is not None:
            cands.append(still)
        self.last_distortion = {MODE_NAMES[c.mode]: c.distortion for c in cands}
        if room_still > 2 and all(c.mode == MODE_SKIP for c in cands):
            # No still and no P-frame fits one frame (thin links): split a still over several
            # frames, when it beats what the decoder holds (or nothing is held). Meanwhile
            # the decoder keeps showing its picture, as for a skip.
            unit = self._plan_unit(image, room_still, weights3, total)
            held = cands[0].distortion if cands else float("inf")
            if unit is not None and unit.cand.distortion < held:
                self._unit = unit
                return self._continue_unit(frame, base, weight_map)
        for cand in sorted(cands, key=lambda c: (c.distortion, c.mode)):
            self._apply(frame, cand, ref)
            if len(pack(frame, limits)) <= budget:
                return self._commit(frame, cand, ref, weight_map)
            log.debug("frame %d: %s candidate over budget after packing", frame.sequence,
                      MODE_NAMES[cand.mode])
        _reset_texture(frame)
        self._commit(frame, None, None, weight_map)
        return LEVEL_SEMANTIC

    def _overhead(self, frame: CodedFrame, mode: int, ref: int | None,
                  shape: tuple[int, ...], fallback: int) -> int:
        """Packed bytes of ``frame`` with a ``mode`` layer, less the layer's own bytes.

        The layer's fields are set to their largest values (source size, top quality,
        video_q and CRC); ``fallback`` when the frame does not pack so.
        """
        probe = _Candidate(mode, None, 0.0, self.cfg.texture.image_codec
                           if mode == MODE_STILL else "h264", bytes(OVERHEAD_PROBE),
                           shape[1], shape[0], 100 if mode == MODE_STILL else 0,
                           Q_MAX if mode == MODE_VIDEO else 0,
                           0xFFFFFFFF if mode == MODE_VIDEO else 0)
        try:
            self._apply(frame, probe, ref)
            return len(pack(frame, self.cfg.limits)) - OVERHEAD_PROBE
        except (BitstreamError, ValueError, OverflowError):
            return fallback
        finally:
            _reset_texture(frame)

    def _continue_unit(self, frame: CodedFrame, base: int, weight_map: np.ndarray) -> int:
        """Send the next part of the split still, or its last bytes as the still itself."""
        limits = self.cfg.limits
        unit = self._unit
        cand = unit.cand
        budget = frame.byte_budget
        final = False
        room = budget - base - 12  # mode, parts, quality, width, height, length
        if room >= len(unit.left):
            final, chunk = True, unit.left
        else:
            chunk = unit.left[:max(0, room)]
        if not chunk or len(unit.sent) + (0 if final else 1) > limits.max_texture_parts:
            self._unit = None  # the budget fell below the semantic layer: start again later
            _reset_texture(frame)
            return self._commit(frame, None, None, weight_map)
        while True:
            _reset_texture(frame)
            frame.texture_mode = MODE_STILL if final else MODE_PART
            frame.texture_parts = len(unit.sent) if final else len(unit.sent) + 1
            frame.background, frame.background_codec = chunk, cand.codec
            frame.background_width, frame.background_height = cand.width, cand.height
            frame.background_quality = cand.quality
            over = len(pack(frame, limits)) - budget
            if over <= 0:
                break
            final, chunk = False, chunk[:len(chunk) - over]
            if not chunk:
                self._unit = None
                _reset_texture(frame)
                return self._commit(frame, None, None, weight_map)
        if final:
            self._unit = None
            self.last_distortion = {"still": cand.distortion}
            return self._commit(frame, cand, None, weight_map)
        unit.sent.append(frame.sequence)
        unit.left = unit.left[len(chunk):]
        self._part_states[frame.sequence] = PENDING
        while len(self._part_states) > 4 * limits.max_texture_parts:
            self._part_states.popitem(last=False)
        self.modes["part"] += 1
        self.last_mode, self.last_ref = MODE_PART, None
        self._since_intra += 1
        return LEVEL_SEMANTIC

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auto-still")
        return self._executor

    def _apply(self, frame: CodedFrame, cand: _Candidate, ref: int | None) -> None:
        _reset_texture(frame)
        frame.texture_mode = cand.mode
        if cand.mode in (MODE_SKIP, MODE_VIDEO):
            frame.ref_sequence = ref
        if cand.mode in (MODE_STILL, MODE_VIDEO):
            frame.background, frame.background_codec = cand.data, cand.codec
            frame.background_width, frame.background_height = cand.width, cand.height
            frame.background_quality = cand.quality
        if cand.mode == MODE_VIDEO:
            frame.video_q, frame.prime_crc = cand.video_q, cand.prime_crc

    def _commit(self, frame: CodedFrame, cand: _Candidate | None, ref: int | None,
                weight_map: np.ndarray) -> int:
        mode = cand.mode if cand is not None else MODE_INDEPENDENT
        self.modes[MODE_NAMES[mode]] += 1
        self.last_mode, self.last_ref = mode, (ref if mode in (MODE_SKIP, MODE_VIDEO) else None)
        self._since_intra = 0 if mode == MODE_STILL else self._since_intra + 1
        if cand is not None:
            self._sent[frame.sequence] = _Sent(cand.canvas, self.last_ref,
                                               weight_map.astype(np.float32),
                                               getattr(self, "_grey", None), mode=mode)
            self._evict()
        if mode == MODE_SKIP:
            return LEVEL_BACKGROUND
        return LEVEL_FULL if cand is not None else LEVEL_SEMANTIC

    def _evict(self) -> None:
        """Keep the ring's size; an evicted unusable frame passes that on to what built on it."""
        while len(self._sent) > self.cfg.texture.reference_frames:
            seq = next(iter(self._sent))
            usable = self._usable(seq)
            del self._sent[seq]
            if not usable:
                for other in self._sent.values():
                    if other.ref == seq:
                        other.state = LOST

    def drop_texture(self, frame: CodedFrame) -> bool:
        """Remove the texture layer (the frame then leaves no canvas)."""
        if frame.texture_mode == MODE_INDEPENDENT:
            return super().drop_texture(frame)
        _reset_texture(frame)
        self._sent.pop(frame.sequence, None)
        return True

    # ------------------------------------------------------------------ candidates

    def _scaled(self, image: np.ndarray, index: int) -> np.ndarray:
        tex = self.cfg.texture
        scale = scale_ladder(tex.background_scale, tex.min_background_scale)[index]
        height, width = image.shape[:2]
        return resize_to(image, max(8, round(width * scale)), max(8, round(height * scale)))

    def _still_at(self, image: np.ndarray, index: int, room: int, weights3: np.ndarray,
                  total: float) -> _Candidate | None:
        """The best-quality still at ladder scale ``index`` within ``room`` bytes."""
        codec = self.cfg.texture.image_codec
        small = self._scaled(image, index)

        def enc(q: int) -> tuple[int, bytes]:
            data = imagecodec.encode(small, codec, q)
            return len(data), data

        q_hi = 99 if codec == "webp" else 100
        search = self._still_searches.setdefault(index, _Search(1, q_hi, True, 50, 0.03))
        found = search.run(enc, room)
        if found is None:
            return None
        q, _, data = found
        height, width = image.shape[:2]
        canvas = np.ascontiguousarray(resize_to(
            imagecodec.decode(data, codec, small.shape[1], small.shape[0]), width, height))
        return _Candidate(MODE_STILL, Canvas(canvas), weighted_mse(image, canvas, weights3, total),
                          codec, data, small.shape[1], small.shape[0], q)

    def _still(self, image: np.ndarray, room: int, weights3: np.ndarray,
               total: float) -> _Candidate | None:
        """Whole-frame still: the current scale and one neighbour, best by distortion."""
        tex = self.cfg.texture
        count = len(scale_ladder(tex.background_scale, tex.min_background_scale))
        self._still_index = min(self._still_index, count - 1)
        best: _Candidate | None = None
        best_index = self._still_index
        # The scale that won last time, and every few frames a neighbour (up or down in turn):
        # the scale follows the content without costing two searches on every frame.
        order = [self._still_index]
        if self._frames % STILL_PROBE_EVERY == 0:
            neighbour = self._still_index + (1 if self._frames % (2 * STILL_PROBE_EVERY) else -1)
            if 0 <= neighbour < count:
                order.append(neighbour)
        for index in order:
            cand = self._still_at(image, index, room, weights3, total)
            if cand is not None and (best is None or cand.distortion < best.distortion):
                best, best_index = cand, index
        if best is None:
            # Nothing fits at these scales: the largest smaller scale that fits (a budget fall).
            for index in range(self._still_index + 1, count):
                if len(imagecodec.encode(self._scaled(image, index), tex.image_codec, 1)) <= room:
                    best, best_index = self._still_at(image, index, room, weights3, total), index
                    break
        if best is not None:
            self._still_index = best_index
        return best

    def _plan_unit(self, image: np.ndarray, room: int, weights3: np.ndarray,
                   total: float) -> _Unit | None:
        """A still split over the fewest frames that gives it PART_MIN_QUALITY at some scale.

        At that span the largest scale whose still at PART_MIN_QUALITY fits is used
        (its quality then fitted to the span's bytes); failing every span, the
        smallest scale over the longest span.
        """
        tex = self.cfg.texture
        count = len(scale_ladder(tex.background_scale, tex.min_background_scale))
        sizes: dict[int, int] = {}

        def size_at(index: int) -> int:
            if index not in sizes:
                sizes[index] = len(imagecodec.encode(self._scaled(image, index), tex.image_codec,
                                                     PART_MIN_QUALITY))
            return sizes[index]

        spans = [s for s in PART_SPANS if s <= self.cfg.limits.max_texture_parts + 1]
        for span in spans:
            cap = span * room
            # (sizes grow with the scale: stop at the first scale that does not fit)
            fitting = None
            for i in range(count - 1, -1, -1):
                if size_at(i) > cap:
                    break
                fitting = i
            if fitting is not None:
                cand = self._still_at(image, fitting, cap, weights3, total)
                if cand is not None:
                    self._still_index = fitting
                    return _Unit(cand, cand.data, [])
        cand = self._still_at(image, count - 1, spans[-1] * room, weights3, total) if spans \
            else None
        return None if cand is None else _Unit(cand, cand.data, [])

    def _probe_setting(self) -> tuple[int, int]:
        """A neighbour of the current video setting: scale or ROI strength, down or up in turn."""
        offset, roi = self._video_setting
        self._probe_turn = (self._probe_turn + 1) % 4
        step = 1 if self._probe_turn % 2 else -1
        if self._probe_turn < 2:
            return (max(-1, min(1, offset + step)), roi)
        return (offset, max(0, min(len(ROI_LADDER) - 1, roi + step)))

    def _video(self, image: np.ndarray, reference: Canvas, weights: np.ndarray, room: int,
               weights3: np.ndarray, total: float,
               setting: tuple[int, int]) -> _Candidate | None:
        """H.264 P-frame against the synthetic IDR of ``reference``, fitted to ``room``."""
        height, width = image.shape[:2]
        bpp = room * 8 / (width * height)
        # Scale: where even a P-frame has under ~0.01 / 0.003 bits per pixel, code fewer
        # pixels; the setting's offset (learnt from probes) moves one step from that rule.
        rule = 0 if bpp >= 0.01 else 1 if bpp >= 0.003 else 2
        scale = VIDEO_SCALES[max(0, min(len(VIDEO_SCALES) - 1, rule + setting[0]))]
        cw, ch = coded_size(width, height, scale)
        small = resize_to(image, cw, ch)
        offsets = self._roi_offsets(weights, cw, ch, ROI_LADDER[setting[1]])
        vframe = to_yuv(small, 1)
        if offsets is not None:  # the same steered picture for every try
            vframe = _with_roi(vframe, offsets)
            vframe.pts = 1

        def enc(q: int) -> tuple[int, tuple[bytes, bytes]]:
            ctx = open_x264(cw, ch, q)
            prime = encode_prime(ctx, reference)
            packet = b"".join(bytes(p) for p in ctx.encode(vframe))
            packet += b"".join(bytes(p) for p in ctx.encode(None))
            return (len(packet) if packet else 1 << 30), (prime, packet)

        search = self._video_searches.setdefault((scale, setting[1]),
                                                 _Search(Q_MIN, Q_MAX, False, 120, 0.04))
        # A picture of a quarter of the pixels or fewer encodes in a fraction of the time: take
        # more tries there (thin links), so the fit comes closer to the room.
        found = search.run(enc, room, MAX_TRIES + (SMALL_EXTRA_TRIES if scale < 1.0 else 0))
        if found is None:
            return None
        q, _, (prime, packet) = found
        try:
            small_out, yuv = decode_pair(prime, packet, cw, ch)
        except BitstreamError as exc:  # pragma: no cover - our own packet
            log.warning("own H.264 P-frame does not decode (%s); no video candidate", exc)
            return None
        canvas = np.ascontiguousarray(resize_to(small_out, width, height))
        return _Candidate(MODE_VIDEO, Canvas(canvas, yuv),
                          weighted_mse(image, canvas, weights3, total),
                          "h264", packet, cw, ch, 0, q, zlib.crc32(prime), setting)

    def _roi_offsets(self, weights: np.ndarray, cw: int, ch: int,
                     share: float) -> np.ndarray | None:
        tex, wcfg = self.cfg.texture, self.cfg.weights
        if tex.video_steering != "roi" or tex.video_roi_strength * share <= 0:
            return None
        from semcomm_ros.codec.roi import macroblock_offsets, roi_writer

        if not roi_writer().available:
            return None
        wmap = cv2.resize(weights, (cw, ch), interpolation=cv2.INTER_AREA)
        return macroblock_offsets(wmap, wcfg.background, wcfg.key_threshold,
                                  tex.video_roi_strength * share)


def _with_roi(vframe, offsets: np.ndarray):
    from semcomm_ros.codec.roi import roi_writer

    return roi_writer().apply(vframe, offsets)


def _reset_texture(frame: CodedFrame) -> None:
    """Clear the background layer and the reference fields."""
    frame.background, frame.background_codec = b"", ""
    frame.background_quality = frame.background_width = frame.background_height = 0
    frame.texture_mode = MODE_INDEPENDENT
    frame.ref_sequence = frame.video_q = frame.prime_crc = frame.texture_parts = 0
