"""The video texture coder: libx264 (zero latency, no B-frames) through PyAV.

The whole frame goes through one H.264 stream; its packet travels in the
``background*`` fields (``background_codec = "h264"``) beside the semantic
layer. Design points:

* **Latency**: ``tune=zerolatency``, no B-frames, no look-ahead: one packet out
  per frame in.
* **Recovery**: periodic intra refresh (``intra-refresh=1``) over
  ``texture.video_gop`` frames, or key frames every ``video_gop`` frames when
  intra refresh is off; stream headers are repeated at every refresh start. A
  lost packet heals within two periods at most (the refresh wave under way at
  the loss may carry the damage), and a decoder that joins late shows pictures
  from the first complete refresh after the next headers (two periods at most);
  until then :class:`VideoDecoder` reports the picture as damaged.
* **Rate control**: bitrate (updated every frame) and a one-frame VBV buffer
  from the byte budget minus the semantic layer, so x264 itself keeps each
  frame near its share. A target change of more than ``REOPEN_RATIO`` reopens
  the encoder (the VBV buffer size cannot be reconfigured through PyAV). A
  packet that would overshoot first takes room from the semantic layer (gist,
  masks, low-weight objects); failing that it is not sent (semantics only) and
  the encoder restarts with an IDR frame, so a frame never exceeds its budget.
  Below about 0.012 / 0.004 bits per source pixel the stream is coded at half
  / quarter resolution (:func:`coded_scale`) and upscaled by the decoder.
* **Weight-map steering**: ``video_steering = "roi"`` gives x264 per-macroblock
  quantiser offsets from the weight map (FFmpeg ROI side data, added by FFmpeg's
  ``addroi`` filter through PyAV's filter graph; see
  ``semcomm_ros/codec/roi.py``), falling back loudly to ``"prefilter"`` when that
  is unavailable; ``"prefilter"`` blurs low-weight regions, more at lower bit
  rates; ``"none"`` codes the frame as it is. docs/benchmarks/codec.md compares
  them.
"""
from __future__ import annotations

import logging
from fractions import Fraction

import av
import cv2
import numpy as np

from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.frame import LEVEL_FULL, LEVEL_SEMANTIC, BitstreamError, CodedFrame
from semcomm_ros.codec.roi import macroblock_offsets, roi_writer
from semcomm_ros.codec.semantic import shrink_semantics
from semcomm_ros.codec.texture import TextureCoder

log = logging.getLogger("semcomm_ros.codec.video")

REOPEN_RATIO = 1.5      # reopen the encoder when the per-frame target moves by this factor
MIN_FRAME_BYTES = 120   # below this, no video packet is attempted
MAX_UNCONFIRMED = 256   # packets remembered while waiting for receiver reports
NAL_START = b"\x00\x00\x01"
SPS = 7  # NAL unit type of a sequence parameter set


def even_pad(image: np.ndarray) -> np.ndarray:
    """Pad right/bottom by edge replication to even width and height (yuv420p)."""
    height, width = image.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)


SCALES = (1.0, 0.5, 0.25)
SCALE_BPP = (0.012, 0.004)  # below these bits per source pixel, code at 1/2, 1/4 size
HYSTERESIS = 1.3


def coded_scale(bits_per_pixel: float, current: float) -> float:
    """Coded resolution (fraction of the source) for a bit rate, with hysteresis.

    A tiny budget spread over every source pixel leaves x264 nothing but skip
    blocks (and an IDR frame that cannot fit); coding fewer pixels and
    upscaling at the receiver is sharper. The scale only changes when the rate
    is clearly past a threshold, since every change restarts the stream.
    """
    wanted = SCALES[sum(bits_per_pixel < t for t in SCALE_BPP)]
    if wanted == current:
        return current
    index = SCALES.index(current) if current in SCALES else 0
    threshold = SCALE_BPP[min(index, len(SCALE_BPP) - 1)] if wanted < current \
        else SCALE_BPP[index - 1]
    if wanted < current and bits_per_pixel < threshold / HYSTERESIS:
        return wanted
    if wanted > current and bits_per_pixel > threshold * HYSTERESIS:
        return wanted
    return current


def prefilter(image: np.ndarray, weight_map: np.ndarray, bits_per_pixel: float,
              floor: float, key: float) -> np.ndarray:
    """Blur low-weight regions; the blur grows as the bit rate falls."""
    sigma = float(np.clip(0.25 / max(bits_per_pixel, 1e-3), 0.0, 4.0))
    if sigma < 0.5:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    keep = np.clip((weight_map - floor) / max(key - floor, 1e-3), 0.0, 1.0)[..., None]
    return (keep * image + (1.0 - keep) * blurred + 0.5).astype(np.uint8)


class VideoCoder(TextureCoder):
    """Whole-frame libx264 coding of the texture layer."""

    def __init__(self, cfg: CodecConfig):
        """No encoder is opened until the first frame (its size is not known yet)."""
        self.cfg = cfg
        self._ctx = None
        self._target = 0
        self._size = (0, 0)
        self._pts = 0
        self._warned = False
        self._scale = 1.0
        self._in_stream: set[int] = set()  # sequences whose packets the open stream holds

    def reset(self) -> None:
        """Next frame starts a new stream (IDR)."""
        self._ctx = None

    def feedback(self, sequence: int, ok: bool) -> None:
        """A lost packet of the open stream: the next frame is an IDR (not the next refresh).

        Every later P-frame refers, directly or not, to the lost one, so the
        decoder would show damage until the intra-refresh wave or key frame
        that is due anyway (up to two ``video_gop`` periods). A packet of an
        earlier stream needs nothing: the stream restarted since.
        """
        if sequence not in self._in_stream:
            return
        if ok:
            self._in_stream.discard(sequence)
            return
        log.info("frame %d of the H.264 stream was lost: the next frame is an IDR", sequence)
        self._ctx = None

    def _open(self, width: int, height: int, target: int) -> None:
        tex, rate = self.cfg.texture, self.cfg.rate
        fps = max(1, round(rate.frame_rate))
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = Fraction(1, fps)
        ctx.framerate = Fraction(fps)
        ctx.bit_rate = target * 8 * fps
        ctx.thread_count = 2
        gop = tex.video_gop
        params = (f"keyint={gop}:min-keyint={gop}:bframes=0:scenecut=0:rc-lookahead=0:"
                  f"intra-refresh={int(tex.video_intra_refresh)}:repeat-headers=1")
        ctx.options = {"preset": "veryfast", "tune": "zerolatency", "x264-params": params,
                       "bufsize": str(target * 8), "maxrate": str(target * 8 * fps)}
        ctx.open()
        self._ctx, self._target, self._size, self._pts = ctx, target, (width, height), 0
        self._in_stream.clear()

    def code(self, image: np.ndarray, frame: CodedFrame, weight_map: np.ndarray,
             available: int) -> int:
        """Encode the frame into one H.264 packet within ``available`` bytes."""
        target = int(max(0, available - 12) * self.cfg.rate.safety)
        if target < MIN_FRAME_BYTES:
            self._ctx = None  # the decoder will miss frames: restart cleanly later
            return LEVEL_SEMANTIC
        self._scale = coded_scale(target * 8 / (image.shape[0] * image.shape[1]), self._scale)
        if self._scale < 1.0:
            image = cv2.resize(image, (round(image.shape[1] * self._scale),
                                       round(image.shape[0] * self._scale)),
                               interpolation=cv2.INTER_AREA)
            weight_map = cv2.resize(weight_map, (image.shape[1], image.shape[0]),
                                    interpolation=cv2.INTER_AREA)
        padded = even_pad(image)
        height, width = padded.shape[:2]
        if (self._ctx is None or self._size != (width, height)
                or not self._target / REOPEN_RATIO <= target <= self._target * REOPEN_RATIO):
            self._open(width, height, target)
        else:  # libx264 reconfigures its rate control (the refresh wave goes on)
            self._ctx.bit_rate = target * 8 * max(1, round(self.cfg.rate.frame_rate))
        source = padded
        steering = self.cfg.texture.video_steering
        wcfg = self.cfg.weights
        wmap = even_pad(weight_map)
        if steering == "roi" and not roi_writer().available:
            if not self._warned:
                log.warning("x264 ROI quantiser offsets unavailable in this PyAV build; "
                            "FALLING BACK to prefilter steering")
                self._warned = True
            steering = "prefilter"
        if steering == "prefilter":
            source = prefilter(padded, wmap, target * 8 / (width * height), wcfg.background,
                               wcfg.key_threshold)
        vframe = av.VideoFrame.from_ndarray(np.ascontiguousarray(source), format="bgr24")
        vframe = vframe.reformat(format="yuv420p")
        if steering == "roi":
            vframe = roi_writer().apply(vframe, macroblock_offsets(
                wmap, wcfg.background, wcfg.key_threshold, self.cfg.texture.video_roi_strength))
        vframe.pts = self._pts
        self._pts += 1
        data = strip_encoder_info(b"".join(bytes(p) for p in self._ctx.encode(vframe)))
        if not data:
            return LEVEL_SEMANTIC
        if len(data) + 12 > available:
            # Make room in the semantic layer (gist, masks, low-weight objects) first.
            budget = frame.byte_budget
            if shrink_semantics(frame, budget - len(data) - 12, self.cfg.limits) + len(data) \
                    + 12 <= budget:
                available = len(data) + 12
        if len(data) + 12 > available:
            log.info("frame %d: H.264 packet %d B over its %d B share; sent without it, "
                     "encoder restarts", frame.sequence, len(data), available)
            self._ctx = None
            return LEVEL_SEMANTIC
        frame.background, frame.background_codec = data, "h264"
        frame.background_width, frame.background_height = width, height
        frame.background_quality = 0
        self._in_stream.add(frame.sequence)
        if len(self._in_stream) > MAX_UNCONFIRMED:  # no reports (one-way link): keep it bounded
            self._in_stream.discard(min(self._in_stream))
        return LEVEL_FULL

    def drop_texture(self, frame: CodedFrame) -> bool:
        """The video packet is all-or-nothing: dropping it restarts the stream."""
        if frame.background:
            frame.background, frame.background_codec = b"", ""
            frame.background_width = frame.background_height = 0
            self._ctx = None
            return True
        return False


def strip_encoder_info(data: bytes) -> bytes:
    """Remove x264's version/settings SEI (~600 bytes of text per IDR frame; decoders ignore it)."""
    if b"x264" not in data:
        return data
    starts = []
    pos = data.find(NAL_START)
    while pos >= 0:
        starts.append(pos)
        pos = data.find(NAL_START, pos + 3)
    kept = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        header = start + 3
        unit = data[start:end]
        is_info = (header + 1 < len(data) and data[header] & 0x1F == 6 and data[header + 1] == 5
                   and b"x264" in unit)
        if not is_info:
            kept.append(unit)
    prefix = data[:starts[0]] if starts else b""
    return prefix + b"".join(kept)


def check_annexb(data: bytes) -> list[int]:
    """Cheap structural check of an Annex-B H.264 packet; returns its NAL unit types."""
    if not data.startswith(NAL_START) and not data.startswith(b"\x00" + NAL_START):
        raise BitstreamError("H.264 packet does not start with a start code")
    pos = 0
    count = 0
    types = []
    while True:
        found = data.find(NAL_START, pos)
        if found < 0:
            break
        header = found + 3
        if header >= len(data):
            raise BitstreamError("H.264 packet ends inside a NAL header")
        if data[header] & 0x80:
            raise BitstreamError("H.264 NAL forbidden bit set")
        types.append(data[header] & 0x1F)
        count += 1
        if count > 4096:
            raise BitstreamError("too many H.264 NAL units")
        pos = header + 1
    if count == 0:
        raise BitstreamError("H.264 packet without NAL units")
    return types


class VideoDecoder:
    """H.264 decoding of the ``background`` packets; knows when the picture is damaged."""

    def __init__(self, cfg: CodecConfig):
        """Decoder opened on the first packet."""
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the picture is shown again from the next recovery point."""
        self._ctx = None
        self._size = (0, 0)
        self._last_sequence: int | None = None
        self._waiting = True  # for stream headers after a loss or at a late join
        self._damaged_until: int | None = None  # sequence at which the picture is clean
        self._pending: tuple[int, bool, int | None] | None = None
        self._image: np.ndarray | None = None

    def _open(self, width: int, height: int) -> None:
        ctx = av.CodecContext.create("h264", "r")
        # FFmpeg refuses a stream whose headers ask for more pixels than the frame declared.
        # (FFmpeg checks whole macroblocks plus an alignment margin: 160x120 needs ~192x128)
        ctx.options = {"max_pixels": str((-(-width // 16) * 16 + 32)
                                         * (-(-height // 16) * 16 + 32))}
        ctx.thread_count = 1
        ctx.open()
        self._ctx, self._size = ctx, (width, height)

    def decode_frame(self, frame: CodedFrame) -> tuple[np.ndarray, bool]:
        """(BGR picture at source size, healthy); BitstreamError when the packet is bad."""
        width, height = frame.background_width, frame.background_height
        if not (16 <= width <= frame.source_width + 1 and 16 <= height <= frame.source_height + 1):
            raise BitstreamError("H.264 frame size outside 16 .. source size")
        scaled = width < frame.source_width - 1 or height < frame.source_height - 1
        nal_types = check_annexb(frame.background)
        if self._ctx is None or self._size != (width, height):
            self._open(width, height)
            self._image = None
        gop = self.cfg.texture.video_gop
        waiting, damaged_until = self._waiting, self._damaged_until
        if self._image is None or (self._last_sequence is not None
                                   and frame.sequence != self._last_sequence + 1):
            waiting, damaged_until = True, None  # a gap or a late join: wait for a refresh
        if waiting and SPS in nal_types:
            # Headers start a refresh wave: clean once it has swept the whole picture.
            waiting, damaged_until = False, frame.sequence + gop - 1
        try:
            pictures = self._ctx.decode(av.Packet(frame.background))
        except (av.error.FFmpegError, ValueError) as exc:
            # A structurally sound packet FFmpeg cannot use (missing references after a
            # loss or a late join, damage): conceal, and heal after the next refresh.
            log.debug("frame %d: H.264 packet not decodable (%s); concealing",
                      frame.sequence, exc)
            pictures = []
            waiting, damaged_until = True, None
        if pictures:
            picture = pictures[-1]
            if (picture.width, picture.height) != (width, height):
                self._ctx = None
                raise BitstreamError("H.264 picture size differs from the declared size")
            image = picture.to_ndarray(format="bgr24")
            if scaled:  # coded at reduced resolution for a low bit rate
                image = cv2.resize(image, (frame.source_width, frame.source_height),
                                   interpolation=cv2.INTER_LINEAR)
            image = image[:frame.source_height, :frame.source_width]
            self._image = np.ascontiguousarray(image)
            if picture.key_frame:
                waiting, damaged_until = False, None
        if damaged_until is not None and frame.sequence >= damaged_until:
            damaged_until = None
        self._pending = (frame.sequence, waiting, damaged_until)
        healthy = not waiting and damaged_until is None
        if self._image is None:
            return np.full((frame.source_height, frame.source_width, 3), 128, np.uint8), False
        return self._image.copy(), healthy

    def commit(self) -> None:
        """Called by the composition decoder once the whole frame decoded."""
        if self._pending is not None:
            self._last_sequence, self._waiting, self._damaged_until = self._pending
            self._pending = None
