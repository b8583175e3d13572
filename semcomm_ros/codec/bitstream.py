"""The versioned wire format of a :class:`CodedFrame` (specified in docs/bitstream.md).

``pack(frame) -> bytes`` and ``unpack(data, limits) -> CodedFrame``. Integers are
unsigned LEB128 varints unless stated; every length and size is checked against
:class:`LimitsConfig` and against the bytes that remain *before* anything is
allocated; a CRC-32 trailer catches corruption. Every failure is a
:class:`BitstreamError`. :func:`validate_frame` applies the same checks to a
frame that arrived as a ROS message (field copy, no packing).
"""
from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from semcomm_ros.codec.config import LimitsConfig
from semcomm_ros.codec.frame import (
    FORMAT_VERSION,
    LEVEL_FULL,
    MODE_INDEPENDENT,
    MODE_PART,
    MODE_SKIP,
    MODE_STILL,
    MODE_VIDEO,
    TEXTURE_MODES,
    BitstreamError,
    CodedFrame,
    CodedObject,
    LimitExceeded,
)
from semcomm_ros.codec.masks import read_varint, write_varint

MAGIC = b"SCF"
CODEC_IDS = {"": 0, "jpeg": 1, "webp": 2, "h264": 3, "hevc": 4, "av1": 5}
CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}
TEXTURE_CODECS = ("", "jpeg", "webp")
BACKGROUND_CODECS = ("", "jpeg", "webp", "h264")
MAX_U32 = 0xFFFFFFFF
MAX_SHORT_STRING = 32
OBJ_MASK, OBJ_TEXTURE = 1, 2  # object flags: a mask follows, a texture layer follows
MAX_VIDEO_Q = 204  # x264 CRF 0..51 in quarter steps
# frame flags byte (format 3): box grid exponent, per-object flags present, weight map deflated
GRID_BITS, FLAG_OBJECT_FLAGS, FLAG_MAP_DEFLATED = 0x07, 0x08, 0x10
MAX_GRID_EXP = 7  # box grid g = 2^k, k = 0..7 (1..128 px)
# source_encoding codes (format 3): 0 = the name follows as a blob; others as listed
ENCODING_CODES = {"bgr8": 1, "rgb8": 2, "mono8": 3, "bgra8": 4, "rgba8": 5, "mono16": 6,
                  "8UC1": 7, "8UC3": 8, "rgb16": 9, "bgr16": 10, "rgba16": 11, "bgra16": 12,
                  "yuv422": 13, "yuv422_yuy2": 14, "nv21": 15, "nv24": 16, "16UC1": 17,
                  "32FC1": 18, "bayer_rggb8": 19, "bayer_bggr8": 20, "bayer_gbrg8": 21,
                  "bayer_grbg8": 22}
ENCODING_NAMES = {v: k for k, v in ENCODING_CODES.items()}
TIME_UNITS_PER_MS = 10  # encode_time_ms goes as u16 tenths of a millisecond, saturating
MAX_TIME_UNITS = 0xFFFF
# Class names a class table entry may leave out (format 3): the 80 COCO class names, index =
# class_id. Frozen here as part of the format (test_bitstream checks coco_onnx agrees).
STANDARD_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush")
# background codecs each texture mode allows
MODE_BACKGROUNDS = {MODE_INDEPENDENT: BACKGROUND_CODECS, MODE_SKIP: ("",),
                    MODE_STILL: ("jpeg", "webp"), MODE_VIDEO: ("h264",),
                    MODE_PART: ("jpeg", "webp")}


def q8(value: float) -> float:
    """Round a [0, 1] value to what the wire carries (one byte)."""
    return round(min(max(float(value), 0.0), 1.0) * 255) / 255


def time_units(ms: float) -> int:
    """encode_time_ms as the wire carries it: tenths of a millisecond, 0..0xFFFF."""
    return round(min(float(ms), MAX_TIME_UNITS / TIME_UNITS_PER_MS) * TIME_UNITS_PER_MS)


def q_time(ms: float) -> float:
    """Round an encode time (ms, >= 0) to what the wire carries."""
    return time_units(max(float(ms), 0.0)) / TIME_UNITS_PER_MS


def _edge_fits(start: int, size: int, side: int, grid: int) -> bool:
    return start % grid == 0 and (size % grid == 0 or start + size == side)


def box_grid_exponent(frame: CodedFrame) -> int:
    """The largest k (<= MAX_GRID_EXP) such that every box lies on the 2^k-pixel grid.

    A box is on grid g when x and y are multiples of g and its right (bottom) edge
    is a multiple of g or the source's right (bottom) edge. 0 without objects.
    """
    if not frame.objects:
        return 0
    k = MAX_GRID_EXP
    for obj in frame.objects:
        x, y, w, h = obj.box
        while k and not (_edge_fits(x, w, frame.source_width, 1 << k)
                         and _edge_fits(y, h, frame.source_height, 1 << k)):
            k -= 1
        if k == 0:
            break
    return k


# --------------------------------------------------------------------------- validation

def _check(cond: bool, message: str) -> None:
    if not cond:
        raise BitstreamError(message)


def _limit(cond: bool, message: str) -> None:
    if not cond:
        raise LimitExceeded(message)


def _check_layer(name: str, codec: str, allowed: tuple[str, ...], width: int, height: int,
                 data: bytes, limits: LimitsConfig) -> None:
    _check(codec in allowed, f"{name}: unknown codec {codec!r}")
    _check(isinstance(data, (bytes, bytearray)), f"{name}: data must be bytes")
    _limit(len(data) <= limits.max_blob_bytes, f"{name}: {len(data)} bytes over the limit")
    if codec:
        _check(0 < width <= limits.max_dimension and 0 < height <= limits.max_dimension,
               f"{name}: size {width}x{height} outside 1..{limits.max_dimension}")
        _limit(width * height <= limits.max_pixels,
               f"{name}: {width}x{height} over limits.max_pixels {limits.max_pixels}")
        _check(len(data) > 0, f"{name}: codec {codec!r} but no data")
    else:
        _check(width == 0 and height == 0 and len(data) == 0, f"{name}: data without codec")


def _unit(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0


def validate_object(obj: CodedObject, frame: CodedFrame, limits: LimitsConfig) -> None:
    """Check one object's fields; BitstreamError when any is out of range."""
    # class_id + 1 marks the object in the decoder's uint16 semantic map: 0xFFFE at most
    _check(isinstance(obj.class_id, int) and 0 <= obj.class_id < 0xFFFF,
           f"class_id {obj.class_id!r} outside 0..65534")
    _check(isinstance(obj.label, str) and len(obj.label.encode()) <= limits.max_label_chars,
           "label missing or too long")
    _check(_unit(obj.confidence) and _unit(obj.weight), "confidence/weight outside [0, 1]")
    _check(len(obj.box) == 4 and all(isinstance(v, int) and v >= 0 for v in obj.box),
           "box must be four non-negative integers")
    x, y, w, h = obj.box
    _check(w > 0 and h > 0 and x + w <= frame.source_width and y + h <= frame.source_height,
           f"box {obj.box} outside the {frame.source_width}x{frame.source_height} source")
    _check(isinstance(obj.mask, (bytes, bytearray)) and len(obj.mask) <= limits.max_blob_bytes,
           "mask must be bytes within the limit")
    if obj.mask:
        _check(0 < obj.mask_width <= limits.max_mask_cells
               and 0 < obj.mask_height <= limits.max_mask_cells, "mask size outside limits")
    else:
        _check(obj.mask_width == 0 and obj.mask_height == 0, "mask size without mask data")
    _check_layer("object texture", obj.texture_codec, TEXTURE_CODECS, obj.texture_width,
                 obj.texture_height, obj.texture, limits)
    _check(0 <= obj.texture_quality <= 100, "texture quality outside 0..100")


def validate_frame(frame: CodedFrame, limits: LimitsConfig) -> None:
    """Check every field of a frame against the format and ``limits``."""
    _check(isinstance(frame, CodedFrame), "not a CodedFrame")
    _check(frame.format_version == FORMAT_VERSION,
           f"unsupported format version {frame.format_version} (this is {FORMAT_VERSION})")
    _check(isinstance(frame.sequence, int) and 0 <= frame.sequence <= MAX_U32, "bad sequence")
    for name in ("source_width", "source_height"):
        value = getattr(frame, name)
        _check(isinstance(value, int) and 0 < value <= limits.max_dimension,
               f"{name} {value!r} outside 1..{limits.max_dimension}")
    _check(isinstance(frame.source_encoding, str)
           and len(frame.source_encoding.encode()) <= MAX_SHORT_STRING, "bad source_encoding")
    _check(isinstance(frame.encode_time_ms, (int, float)) and math.isfinite(frame.encode_time_ms)
           and frame.encode_time_ms >= 0, f"encode_time_ms {frame.encode_time_ms!r} is not a "
           "finite time >= 0")
    _check(isinstance(frame.level, int) and 0 <= frame.level <= LEVEL_FULL, "bad level")
    _check(isinstance(frame.byte_budget, int) and 0 <= frame.byte_budget <= MAX_U32,
           "bad byte_budget")
    wm = frame.weight_map
    _check(isinstance(wm, np.ndarray) and wm.dtype == np.uint8 and wm.ndim == 2,
           "weight_map must be a 2-D uint8 array")
    _check(max(wm.shape) <= limits.max_weight_map_side, "weight map too large")
    _check(not (wm % 17).any(), "weight map values must be multiples of 17 (16 levels)")
    _check_layer("gist", frame.gist_codec, TEXTURE_CODECS, frame.gist_width,
                 frame.gist_height, frame.gist, limits)
    _check_layer("background", frame.background_codec, BACKGROUND_CODECS,
                 frame.background_width, frame.background_height, frame.background, limits)
    _check(0 <= frame.background_quality <= 100, "background quality outside 0..100")
    validate_reference(frame, limits)
    _check(isinstance(frame.objects, list), "objects must be a list")
    _limit(len(frame.objects) <= limits.max_objects, "too many objects")
    area = frame.source_width * frame.source_height
    _limit(area <= limits.max_pixels,
           f"source {frame.source_width}x{frame.source_height} over limits.max_pixels "
           f"{limits.max_pixels}")
    for obj in frame.objects:
        _check(isinstance(obj, CodedObject), "objects must be CodedObject")
        validate_object(obj, frame, limits)
    _limit(work_pixels(frame) <= limits.max_work_pixels,
           f"frame needs {work_pixels(frame)} pixels of work, over limits.max_work_pixels "
           f"{limits.max_work_pixels}")


def work_pixels(frame: CodedFrame) -> int:
    """Pixels the decoder touches for a frame: its canvas, every box and every layer."""
    total = frame.source_width * frame.source_height
    total += frame.gist_width * frame.gist_height
    total += frame.background_width * frame.background_height
    for obj in frame.objects:
        total += obj.box[2] * obj.box[3] + obj.texture_width * obj.texture_height
        total += obj.mask_width * obj.mask_height
    return total


def ref_distance(frame: CodedFrame) -> int:
    """How many sequence numbers back the reference is (modulo 2^32)."""
    return (frame.sequence - frame.ref_sequence) & MAX_U32


def validate_reference(frame: CodedFrame, limits: LimitsConfig) -> None:
    """Check the texture mode and the reference fields (format 2)."""
    mode = frame.texture_mode
    _check(isinstance(mode, int) and mode in TEXTURE_MODES, f"unknown texture mode {mode!r}")
    for name in ("ref_sequence", "video_q", "prime_crc"):
        value = getattr(frame, name)
        _check(isinstance(value, int) and 0 <= value <= MAX_U32, f"bad {name}")
    _check(frame.background_codec in MODE_BACKGROUNDS[mode],
           f"texture mode {mode} with background codec {frame.background_codec!r}")
    if mode in (MODE_SKIP, MODE_VIDEO):
        _check(1 <= ref_distance(frame) <= limits.max_ref_distance,
               f"reference {frame.ref_sequence} not within 1..{limits.max_ref_distance} "
               f"frames before {frame.sequence}")
    else:
        _check(frame.ref_sequence == 0, "reference given for a mode without one")
    if mode == MODE_VIDEO:
        _check(frame.video_q <= MAX_VIDEO_Q, f"video_q {frame.video_q} over {MAX_VIDEO_Q}")
    else:
        _check(frame.video_q == 0 and frame.prime_crc == 0, "video fields outside video mode")
    parts = frame.texture_parts
    _check(isinstance(parts, int) and 0 <= parts <= limits.max_texture_parts,
           f"texture_parts {parts!r} outside 0..{limits.max_texture_parts}")
    _check(parts >= 1 if mode == MODE_PART else mode == MODE_STILL or parts == 0,
           f"texture_parts {parts} with texture mode {mode}")


# --------------------------------------------------------------------------- packing

def _blob(out: bytearray, data: bytes) -> None:
    write_varint(len(data), out)
    out += data


def _layer(out: bytearray, codec: str, width: int, height: int, data: bytes,
           quality: int | None = None) -> None:
    out.append(CODEC_IDS[codec])
    if not codec:  # an absent layer is its codec byte alone
        return
    if quality is not None:
        out.append(int(quality))
    write_varint(width, out)
    write_varint(height, out)
    _blob(out, data)


def _pack_map(wm: np.ndarray) -> tuple[bytes, bool]:
    """16-level weight map -> (nibbles, two cells a byte, high nibble first; deflated?)."""
    levels = (np.ascontiguousarray(wm).ravel() // 17).astype(np.uint8)
    if levels.size % 2:
        levels = np.append(levels, np.uint8(0))
    raw = ((levels[0::2] << 4) | levels[1::2]).tobytes()
    packed = deflate(raw)
    return (packed, True) if len(packed) < len(raw) else (raw, False)


def pack(frame: CodedFrame, limits: LimitsConfig | None = None) -> bytes:
    """CodedFrame -> wire bytes (docs/bitstream.md); BitstreamError if a field is invalid."""
    limits = limits or LimitsConfig()
    validate_frame(frame, limits)
    wm = frame.weight_map
    map_bytes, deflated = _pack_map(wm) if wm.size else (b"", False)
    grid_exp = box_grid_exponent(frame)
    grid = 1 << grid_exp
    object_flags = any(o.mask_width or o.texture_codec for o in frame.objects)
    out = bytearray(MAGIC)
    out.append(frame.format_version)
    out.append(frame.level)
    out.append(grid_exp | (FLAG_OBJECT_FLAGS if object_flags else 0)
               | (FLAG_MAP_DEFLATED if deflated else 0))
    for value in (frame.sequence, frame.source_width, frame.source_height, frame.byte_budget):
        write_varint(int(value), out)
    code = ENCODING_CODES.get(frame.source_encoding, 0)
    out.append(code)
    if not code:
        _blob(out, frame.source_encoding.encode())
    out += struct.pack("<H", time_units(frame.encode_time_ms))
    write_varint(wm.shape[1], out)
    write_varint(wm.shape[0], out)
    if deflated:
        _blob(out, map_bytes)
    else:
        out += map_bytes  # its length follows from the map's size
    _layer(out, frame.gist_codec, frame.gist_width, frame.gist_height, frame.gist)
    _layer(out, frame.background_codec, frame.background_width, frame.background_height,
           frame.background, frame.background_quality)
    out.append(frame.texture_mode)
    if frame.texture_mode in (MODE_SKIP, MODE_VIDEO):
        write_varint(ref_distance(frame), out)
    if frame.texture_mode == MODE_VIDEO:
        out.append(frame.video_q)
        out += struct.pack("<I", frame.prime_crc)
    if frame.texture_mode in (MODE_STILL, MODE_PART):
        write_varint(frame.texture_parts, out)
    write_varint(len(frame.objects), out)
    classes = list(dict.fromkeys((obj.class_id, obj.label) for obj in frame.objects))
    write_varint(len(classes), out)
    for class_id, label in classes:
        standard = class_id < len(STANDARD_LABELS) and STANDARD_LABELS[class_id] == label
        write_varint(class_id << 1 | (0 if standard else 1), out)
        if not standard:
            _blob(out, label.encode())
    for obj in frame.objects:
        if len(classes) > 1:
            write_varint(classes.index((obj.class_id, obj.label)), out)
        out.append(round(obj.confidence * 255))
        out.append(round(obj.weight * 255))
        x, y, w, h = (int(v) for v in obj.box)
        for value in (x // grid, y // grid, -(-w // grid), -(-h // grid)):
            write_varint(value, out)
        if object_flags:
            out.append((OBJ_MASK if obj.mask_width else 0)
                       | (OBJ_TEXTURE if obj.texture_codec else 0))
        if obj.mask_width:
            write_varint(obj.mask_width, out)
            write_varint(obj.mask_height, out)
            _blob(out, obj.mask)
        if obj.texture_codec:
            _layer(out, obj.texture_codec, obj.texture_width, obj.texture_height, obj.texture,
                   obj.texture_quality)
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def packed_size(frame: CodedFrame, limits: LimitsConfig | None = None) -> int:
    """Wire size of ``frame`` in bytes (what ``bytes_used`` reports)."""
    return len(pack(frame, limits))


# --------------------------------------------------------------------------- unpacking

class _Reader:
    """Bounds-checked cursor over the packed bytes."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def u8(self) -> int:
        _check(self.pos < len(self.data), "truncated frame")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self, max_value: int) -> int:
        value, self.pos = read_varint(self.data, self.pos, max_value)
        return value

    def take(self, count: int) -> bytes:
        _check(self.pos + count <= len(self.data), "truncated frame")
        self.pos += count
        return bytes(self.data[self.pos - count:self.pos])

    def blob(self, max_len: int) -> bytes:
        length = self.varint(max_len)
        return self.take(length)

    def codec(self) -> str:
        ident = self.u8()
        _check(ident in CODEC_NAMES, f"unknown codec id {ident}")
        return CODEC_NAMES[ident]

    def text(self, max_len: int) -> str:
        try:
            return self.blob(max_len).decode()
        except UnicodeDecodeError as exc:
            raise BitstreamError("string is not UTF-8") from exc


def deflate(data: bytes) -> bytes:
    """Raw DEFLATE (no zlib header or checksum: the frame has a CRC), level 9."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _inflate(data: bytes, size: int) -> bytes:
    """Raw-inflate at most ``size`` bytes; exactly ``size`` must come out."""
    try:
        inflater = zlib.decompressobj(-15)
        raw = inflater.decompress(data, size)
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            raise BitstreamError("weight map stream is not exactly the declared size")
    except zlib.error as exc:
        raise BitstreamError(f"weight map does not inflate: {exc}") from exc
    _check(len(raw) == size, "weight map has the wrong size")
    return raw


def _unpack_map(data: bytes, width: int, height: int) -> np.ndarray:
    """Nibble-packed cells (see :func:`_pack_map`) -> height x width uint8 map."""
    cells = width * height
    packed = np.frombuffer(data, np.uint8)
    levels = np.empty(packed.size * 2, np.uint8)
    levels[0::2], levels[1::2] = packed >> 4, packed & 0x0F
    _check(levels.size == cells + cells % 2, "weight map has the wrong size")
    _check(not cells % 2 or levels[-1] == 0, "weight map padding nibble is not 0")
    return (levels[:cells] * 17).reshape(height, width)


def _box(r: _Reader, grid: int, frame: CodedFrame, dim: int) -> tuple[int, int, int, int]:
    """One box on the grid: x/g, y/g, ceil(w/g), ceil(h/g); the far edges clip to the source."""
    x, y, cols, rows = (r.varint(dim) for _ in range(4))
    out = []
    for start, cells, side in ((x * grid, cols, frame.source_width),
                               (y * grid, rows, frame.source_height)):
        _check(start < side and cells >= 1, "box outside the source or empty")
        _check((cells - 1) * grid < side - start, "box extends a whole grid cell past the source")
        out.append((start, min(cells * grid, side - start)))
    (x, w), (y, h) = out
    return x, y, w, h


def unpack(data: bytes, limits: LimitsConfig | None = None) -> CodedFrame:
    """Wire bytes -> CodedFrame; BitstreamError on anything malformed."""
    limits = limits or LimitsConfig()
    _check(isinstance(data, (bytes, bytearray, memoryview)), "frame must be bytes")
    data = bytes(data)
    _limit(len(data) <= limits.max_frame_bytes, f"frame of {len(data)} bytes over the limit")
    _check(len(data) >= 10, "truncated frame")
    _check(data[:3] == MAGIC, "not a semcomm frame (bad magic)")
    _check(data[3] == FORMAT_VERSION,
           f"unsupported format version {data[3]} (this decoder reads format "
           f"{FORMAT_VERSION} only; see docs/bitstream.md, Versioning)")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    _check(zlib.crc32(data[:-4]) == crc, "CRC mismatch: frame corrupted")
    r = _Reader(data[:-4])
    r.pos = 4
    dim = limits.max_dimension
    blob_max = limits.max_blob_bytes
    frame = CodedFrame(sequence=0, source_width=0, source_height=0)
    frame.level = r.u8()
    flags = r.u8()
    _check(flags & ~(GRID_BITS | FLAG_OBJECT_FLAGS | FLAG_MAP_DEFLATED) == 0,
           f"unknown frame flags {flags:#x}")
    grid = 1 << (flags & GRID_BITS)
    frame.sequence = r.varint(MAX_U32)
    frame.source_width = r.varint(dim)
    frame.source_height = r.varint(dim)
    _check(frame.source_width > 0 and frame.source_height > 0, "empty source size")
    frame.byte_budget = r.varint(MAX_U32)
    code = r.u8()
    if code:
        _check(code in ENCODING_NAMES, f"unknown source encoding code {code}")
        frame.source_encoding = ENCODING_NAMES[code]
    else:
        frame.source_encoding = r.text(MAX_SHORT_STRING)
        _check(frame.source_encoding not in ENCODING_CODES,
               "source encoding sent as text although it has a code")
    (units,) = struct.unpack("<H", r.take(2))
    frame.encode_time_ms = units / TIME_UNITS_PER_MS
    side = limits.max_weight_map_side
    wm_w, wm_h = r.varint(side), r.varint(side)
    if wm_w * wm_h:
        size = (wm_w * wm_h + 1) // 2
        raw = _inflate(r.blob(blob_max), size) if flags & FLAG_MAP_DEFLATED else r.take(size)
        frame.weight_map = _unpack_map(raw, wm_w, wm_h)
    else:
        _check(wm_w == wm_h == 0 and not flags & FLAG_MAP_DEFLATED,
               "empty weight map with a size or data")
    frame.gist_codec = r.codec()
    if frame.gist_codec:
        frame.gist_width, frame.gist_height = r.varint(dim), r.varint(dim)
        frame.gist = r.blob(blob_max)
    frame.background_codec = r.codec()
    if frame.background_codec:
        frame.background_quality = r.u8()
        frame.background_width, frame.background_height = r.varint(dim), r.varint(dim)
        frame.background = r.blob(blob_max)
    frame.texture_mode = r.u8()
    _check(frame.texture_mode in TEXTURE_MODES, f"unknown texture mode {frame.texture_mode}")
    if frame.texture_mode in (MODE_SKIP, MODE_VIDEO):
        distance = r.varint(limits.max_ref_distance)
        _check(distance >= 1, "reference distance 0")
        frame.ref_sequence = (frame.sequence - distance) & MAX_U32
    if frame.texture_mode == MODE_VIDEO:
        frame.video_q = r.u8()
        _check(frame.video_q <= MAX_VIDEO_Q, f"video_q {frame.video_q} over {MAX_VIDEO_Q}")
        (frame.prime_crc,) = struct.unpack("<I", r.take(4))
    if frame.texture_mode in (MODE_STILL, MODE_PART):
        frame.texture_parts = r.varint(limits.max_texture_parts)
    count = r.varint(limits.max_objects)
    classes = []
    for _ in range(r.varint(count)):
        entry = r.varint(0x1FFFF)
        class_id = entry >> 1
        if entry & 1:
            label = r.text(limits.max_label_chars)
            _check(not (class_id < len(STANDARD_LABELS) and STANDARD_LABELS[class_id] == label),
                   "class label sent as text although the standard table gives it")
        else:
            _check(class_id < len(STANDARD_LABELS), f"class {class_id} has no standard label")
            label = STANDARD_LABELS[class_id]
        classes.append((class_id, label))
    _check(len(set(classes)) == len(classes), "class table repeats an entry")
    _check(bool(classes) or count == 0, "objects without a class table")
    for _ in range(count):
        index = r.varint(len(classes) - 1) if len(classes) > 1 else 0
        class_id, label = classes[index]
        confidence, weight = r.u8() / 255, r.u8() / 255
        obj = CodedObject(class_id=class_id, label=label, confidence=confidence, weight=weight,
                          box=_box(r, grid, frame, dim))
        obj_flags = r.u8() if flags & FLAG_OBJECT_FLAGS else 0
        _check(obj_flags & ~(OBJ_MASK | OBJ_TEXTURE) == 0, f"unknown object flags {obj_flags:#x}")
        if obj_flags & OBJ_MASK:
            obj.mask_width = r.varint(limits.max_mask_cells)
            obj.mask_height = r.varint(limits.max_mask_cells)
            obj.mask = r.blob(blob_max)
            _check(obj.mask_width > 0 and len(obj.mask) > 0, "mask flag without a mask")
        if obj_flags & OBJ_TEXTURE:
            obj.texture_codec = r.codec()
            _check(bool(obj.texture_codec), "texture flag without a texture codec")
            obj.texture_quality = r.u8()
            obj.texture_width, obj.texture_height = r.varint(dim), r.varint(dim)
            obj.texture = r.blob(blob_max)
        frame.objects.append(obj)
    _check(set(classes) == {(o.class_id, o.label) for o in frame.objects},
           "class table entry never used")
    _check(not flags & FLAG_OBJECT_FLAGS
           or any(o.mask_width or o.texture_codec for o in frame.objects),
           "object flags sent although no object has a mask or texture")
    _check(box_grid_exponent(frame) == flags & GRID_BITS,
           "box grid is not the coarsest one the boxes lie on")
    _check(r.pos == len(r.data), "trailing bytes after the last object")
    frame.bytes_used = len(data)
    validate_frame(frame, limits)
    return frame
