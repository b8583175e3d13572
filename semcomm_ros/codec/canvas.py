"""The picture both ends hold: canvases, and the exact decoding of the auto coder's modes.

Format 2 frames name their texture mode and, for ``skip`` and ``video``, the
canvas they build on (``ref_sequence``; docs/bitstream.md, "Reference model").
:func:`apply_texture` is THE decoding of those modes: the base station's
:class:`~semcomm_ros.codec.decoder.CompositionDecoder` runs it on what arrives,
and the encoder (:mod:`semcomm_ros.codec.auto`) runs the same code on what it
sends, so both hold bit-identical canvases (WebP/JPEG and H.264 decoding are
exact; so is libx264 with one thread and fixed settings).

The video mode restarts H.264 without sending a key frame ("synthetic IDR"):
both ends open a fresh libx264 encoder with :data:`X264_OPTIONS` and the
frame's ``video_q`` (CRF in quarter steps), encode ``canvas[ref]`` (scaled to the
coded size) as its first, high-quality frame and feed those bytes to a fresh
H.264 decoder; the frame's packet is the encoder's second frame, a P-frame
against that picture. The encoder discards the IDR; the decoder regenerates it
and checks its CRC-32 (``prime_crc``), so a decoder whose libx264 differs
reports :class:`ReferenceMismatch` instead of showing a wrong picture.
"""
from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from semcomm_ros.codec import imagecodec
from semcomm_ros.codec.frame import (
    MODE_SKIP,
    MODE_STILL,
    MODE_VIDEO,
    BitstreamError,
    CodedFrame,
    MissingReference,
    ReferenceMismatch,
)
from semcomm_ros.codec.region import resize_to

PRIME_QP = 14  # target quantiser of the synthetic IDR (ipratio is derived from the CRF)
X264_PRESET = "veryfast"
X264_PARAMS = ("keyint=250:min-keyint=250:bframes=0:scenecut=0:rc-lookahead=0:"
               "sync-lookahead=0:repeat-headers=1")
# Large coded pictures go in two slices, one thread each: the synthetic IDR costs both ends
# a full x264 intra encode per frame, and slices halve its wall time on a 2-core robot or
# base station. The count is fixed by the coded size (part of the format), never by the
# machine, so both ends produce the same bytes; small (thin-link) pictures keep one slice,
# since a slice header and the broken intra prediction cost bytes there.
SLICED_MIN_PIXELS = 640 * 360
SLICES = 2


def slices_for(width: int, height: int) -> int:
    """Slices (and x264 / FFmpeg threads) of a synthetic-IDR stream at this coded size."""
    return SLICES if width * height >= SLICED_MIN_PIXELS else 1


@dataclass(frozen=True)
class Canvas:
    """A picture the decoder holds: BGR at source size, and its H.264 planes when it has them.

    ``yuv`` (yuv420p, coded size, as PyAV lays it out) is kept for pictures that
    came out of the H.264 decoder, so that the next synthetic key frame starts
    from exactly those planes: no BGR <-> YUV round trip (chroma blur, rounding)
    accumulates along a chain of video frames.
    """

    image: np.ndarray
    yuv: np.ndarray | None = None
    #: the decoded picture at its coded size before ``resize_to`` (base-station side
    #: only, for the reconstruction's upsampler; None where not known)
    small: np.ndarray | None = None


def crf_of(video_q: int) -> float:
    """x264 CRF of a frame's ``video_q`` (quarter steps)."""
    return video_q / 4.0


def x264_options(video_q: int, slices: int = 1) -> dict[str, str]:
    """The libx264 options of a synthetic-IDR stream: part of the format (both ends use them)."""
    crf = crf_of(video_q)
    ipratio = max(1.0, 2.0 ** ((crf - PRIME_QP) / 6.0))
    threads = f"threads={slices}:sliced-threads={int(slices > 1)}"
    return {"preset": X264_PRESET, "tune": "zerolatency",
            "x264-params": f"{X264_PARAMS}:{threads}:crf={crf:.2f}:ipratio={ipratio:.4f}"}


def open_x264(width: int, height: int, video_q: int) -> av.CodecContext:
    """A fresh, deterministic libx264 encoder for one synthetic-IDR stream."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 10)
    ctx.framerate = Fraction(10)
    slices = slices_for(width, height)
    ctx.thread_count = slices
    ctx.options = x264_options(video_q, slices)
    ctx.open()
    return ctx


def to_yuv(image: np.ndarray, pts: int) -> av.VideoFrame:
    """BGR uint8 -> yuv420p VideoFrame with ``pts``."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
    frame = frame.reformat(format="yuv420p")
    frame.pts = pts
    return frame


def prime_source(base: Canvas, width: int, height: int) -> av.VideoFrame:
    """The picture a synthetic key frame encodes.

    The canvas's own planes when it has them at this coded size, else the BGR
    canvas scaled to it and converted.
    """
    if base.yuv is not None and base.yuv.shape == (height * 3 // 2, width):
        frame = av.VideoFrame.from_ndarray(base.yuv, format="yuv420p")
        frame.pts = 0
        return frame
    return to_yuv(resize_to(base.image, width, height), 0)


def encode_prime(ctx: av.CodecContext, base: Canvas) -> bytes:
    """Feed ``base`` to a fresh encoder (its coded size); return the IDR packet's bytes."""
    data = b"".join(bytes(p) for p in ctx.encode(prime_source(base, ctx.width, ctx.height)))
    if not data:
        raise BitstreamError("libx264 gave no synthetic key frame")
    return data


def prime_packet(base: Canvas, width: int, height: int, video_q: int) -> bytes:
    """The synthetic IDR of ``base`` at the coded size for ``video_q``."""
    return encode_prime(open_x264(width, height, video_q), base)


def decode_pair(prime: bytes, packet: bytes, width: int, height: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decode the synthetic IDR then the P-frame: the P-frame's (BGR, yuv420p) at coded size."""
    ctx = av.CodecContext.create("h264", "r")
    ctx.options = {"max_pixels": str(mb_pixels(width, height))}
    ctx.thread_count = slices_for(width, height)  # slice threads: same pictures, less wall time
    ctx.thread_type = "SLICE"
    ctx.open()
    pictures = []
    try:
        for data in (prime, packet):
            pictures += ctx.decode(av.Packet(data))
        pictures += ctx.decode(None)
    except (av.error.FFmpegError, ValueError) as exc:
        raise BitstreamError(f"H.264 P-frame does not decode: {exc}") from exc
    if len(pictures) != 2:
        raise BitstreamError(f"H.264 pair gave {len(pictures)} pictures, not 2")
    picture = pictures[-1]
    if (picture.width, picture.height) != (width, height):
        raise BitstreamError("H.264 picture size differs from the declared size")
    return picture.to_ndarray(format="bgr24"), picture.to_ndarray()


def mb_pixels(width: int, height: int) -> int:
    """FFmpeg's max_pixels bound for a picture (whole macroblocks plus an alignment margin).

    Its H.264 decoder checks a 160x120 picture as about 192x128.
    """
    return (-(-width // 16) * 16 + 32) * (-(-height // 16) * 16 + 32)


def coded_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Even coded size (>= 16) of a source at ``scale``."""
    return (max(16, 2 * round(width * scale / 2)), max(16, 2 * round(height * scale / 2)))


class CanvasRing:
    """The last few canvases by sequence number (what a frame may name as its reference)."""

    def __init__(self, size: int):
        """Keep at most ``size`` canvases."""
        self.size = size
        self._items: OrderedDict[int, Canvas] = OrderedDict()

    def __contains__(self, sequence: int) -> bool:
        """Whether the canvas of ``sequence`` is held."""
        return sequence in self._items

    def __len__(self) -> int:
        """Number of canvases held."""
        return len(self._items)

    def get(self, sequence: int) -> Canvas:
        """The canvas of ``sequence``; MissingReference when it is not held."""
        canvas = self._items.get(sequence)
        if canvas is None:
            raise MissingReference(f"reference canvas {sequence} is not held")
        return canvas

    def put(self, sequence: int, canvas: Canvas) -> None:
        """Hold ``canvas`` for ``sequence``; a sequence that went back (restart) drops newer."""
        for old in [s for s in self._items if s >= sequence]:
            del self._items[old]
        self._items[sequence] = canvas
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every canvas."""
        self._items.clear()

    def sequences(self) -> list[int]:
        """Held sequence numbers, oldest first."""
        return list(self._items)


class PartBuffer:
    """The parts of a still split over consecutive frames (thin links), until its last frame.

    Part ``i`` (``texture_parts = i``, mode part) must follow part ``i - 1`` in
    the frame just before it, with the same codec, size and quality; the still
    that completes them names how many parts precede it. Anything else is a
    missing reference. Changes only through :meth:`commit` / :meth:`clear`.
    """

    def __init__(self) -> None:
        """Nothing held."""
        self.parts: list[tuple[int, bytes]] = []
        self.key: tuple | None = None

    def clear(self) -> None:
        """Drop any parts held."""
        self.parts, self.key = [], None

    def _follows(self, frame: CodedFrame, count: int, key: tuple) -> bool:
        return (len(self.parts) == count and self.key == key and count > 0
                and (self.parts[-1][0] + 1) & 0xFFFFFFFF == frame.sequence)

    def staged(self, frame: CodedFrame, max_bytes: int) -> tuple[tuple, list[tuple[int, bytes]]]:
        """The state after part ``frame`` (not committed); MissingReference if it breaks a run."""
        key = (frame.background_codec, frame.background_width, frame.background_height,
               frame.background_quality)
        index = frame.texture_parts
        if index == 1:
            parts = []
        elif self._follows(frame, index - 1, key):
            parts = list(self.parts)
        else:
            raise MissingReference(f"part {index - 1} of this still is not held")
        if sum(len(p) for _, p in parts) + len(frame.background) > max_bytes:
            raise BitstreamError("still parts over the blob limit")
        return key, parts + [(frame.sequence, bytes(frame.background))]

    def commit(self, state: tuple[tuple, list[tuple[int, bytes]]]) -> None:
        """Hold the state :meth:`staged` returned."""
        self.key, self.parts = state

    def assemble(self, frame: CodedFrame) -> bytes:
        """The whole still a frame completes (its parts, then its own bytes)."""
        if frame.texture_parts == 0:
            return frame.background
        key = (frame.background_codec, frame.background_width, frame.background_height,
               frame.background_quality)
        if not self._follows(frame, frame.texture_parts, key):
            raise MissingReference("a part of this still is not held")
        return b"".join(p for _, p in self.parts) + frame.background


def check_video_layer(frame: CodedFrame) -> None:
    """Coded size of a video-mode packet within 16 .. source size (rounded up to even)."""
    width, height = frame.background_width, frame.background_height
    if not (16 <= width <= max(16, frame.source_width + 1)
            and 16 <= height <= max(16, frame.source_height + 1)) or width % 2 or height % 2:
        raise BitstreamError(f"H.264 coded size {width}x{height} outside 16 .. source size")


def apply_texture(frame: CodedFrame, ring: CanvasRing, parts: PartBuffer | None = None) -> Canvas:
    """The canvas a skip / still / video frame produces (source size, BGR uint8).

    Raises MissingReference when the reference is not in ``ring``,
    ReferenceMismatch when the regenerated synthetic key frame differs, and
    BitstreamError when a layer does not decode. Never changes ``ring``.
    """
    width, height = frame.source_width, frame.source_height
    if frame.texture_mode == MODE_STILL:
        data = frame.background
        if frame.texture_parts:
            if parts is None:
                raise MissingReference("a still split over frames, without its parts")
            data = parts.assemble(frame)
        image = imagecodec.decode(data, frame.background_codec,
                                  frame.background_width, frame.background_height)
        return Canvas(np.ascontiguousarray(resize_to(image, width, height)), small=image)
    base = ring.get(frame.ref_sequence)
    if base.image.shape[:2] != (height, width):
        raise MissingReference(f"reference canvas {frame.ref_sequence} has another size")
    if frame.texture_mode == MODE_SKIP:
        return base
    if frame.texture_mode != MODE_VIDEO:
        raise BitstreamError(f"texture mode {frame.texture_mode} has no canvas")
    check_video_layer(frame)
    cw, ch = frame.background_width, frame.background_height
    prime = prime_packet(base, cw, ch, frame.video_q)
    if zlib.crc32(prime) != frame.prime_crc:
        raise ReferenceMismatch("synthetic key frame differs from the encoder's (another "
                                "libx264 build?)")
    from semcomm_ros.codec.video import check_annexb

    check_annexb(frame.background)
    small, yuv = decode_pair(prime, frame.background, cw, ch)
    return Canvas(np.ascontiguousarray(resize_to(small, width, height)), yuv, small)


def uses_canvas(frame: CodedFrame) -> bool:
    """Whether the frame is one of the auto coder's canvas modes."""
    return frame.texture_mode in (MODE_SKIP, MODE_STILL, MODE_VIDEO)
