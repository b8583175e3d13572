"""Per-region quantiser offsets for libx264: FFmpeg's ROI side data, reached through ctypes.

FFmpeg's libx264 wrapper turns ``AV_FRAME_DATA_REGIONS_OF_INTEREST`` side data
(an array of ``AVRegionOfInterest``: top, bottom, left, right, ``qoffset`` in
[-1, 1], negative = better quality) into x264's per-macroblock quantiser
offsets. PyAV 18 exposes side data read-only, so :class:`RoiWriter` calls
libavutil's public ``av_frame_new_side_data`` through ctypes on the AVFrame
behind a PyAV frame. It finds that pointer in the PyAV object once, verifies
it on a probe frame (width, height and pixel format must read back), and
reports ``available = False`` when anything does not match, so the caller
falls back to prefiltering with a warning instead of touching unknown memory.
"""
from __future__ import annotations

import ctypes
import glob
import logging
import os

import av
import numpy as np

log = logging.getLogger("semcomm_ros.codec.roi")

MB = 16                      # x264 macroblock size
AVFRAME_WIDTH_OFFSET = 104   # uint8_t *data[8]; int linesize[8]; uint8_t **extended_data; int width
AV_PIX_FMT_YUV420P = 0
QP_STEPS = 51                # FFmpeg scales qoffset by the 8-bit QP range


class _Region(ctypes.Structure):
    _fields_ = [("self_size", ctypes.c_uint32), ("top", ctypes.c_int), ("bottom", ctypes.c_int),
                ("left", ctypes.c_int), ("right", ctypes.c_int), ("qoffset_num", ctypes.c_int),
                ("qoffset_den", ctypes.c_int)]


class RoiWriter:
    """Attaches a macroblock map of quantiser offsets to PyAV frames (when possible)."""

    def __init__(self) -> None:
        """Load libavutil from PyAV's bundle and verify the frame layout on a probe."""
        self.available = False
        self._offset = 0
        try:
            from av.sidedata.sidedata import Type

            self._type = int(Type.REGIONS_OF_INTEREST.value)
            libdir = os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs")
            paths = glob.glob(os.path.join(libdir, "libavutil*.so*"))
            self._util = ctypes.CDLL(paths[0] if paths else "libavutil.so")
            self._util.av_frame_new_side_data.restype = ctypes.c_void_p
            self._util.av_frame_new_side_data.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                          ctypes.c_size_t]
            probe = av.VideoFrame(48, 32, "yuv420p")
            for offset in (24, 16, 32):
                if self._frame_pointer(probe, offset):
                    self._offset = offset
                    self.available = True
                    break
        except (OSError, AttributeError, ImportError, ValueError) as exc:
            log.debug("ROI side data unavailable: %s", exc)

    @staticmethod
    def _read_int(address: int) -> int:
        return ctypes.c_int.from_address(address).value

    def _frame_pointer(self, frame: av.VideoFrame, offset: int) -> int | None:
        """The AVFrame* inside a PyAV frame when it reads back the frame's size and format."""
        pointer = ctypes.c_void_p.from_address(id(frame) + offset).value
        if not pointer:
            return None
        width = self._read_int(pointer + AVFRAME_WIDTH_OFFSET)
        height = self._read_int(pointer + AVFRAME_WIDTH_OFFSET + 4)
        fmt = self._read_int(pointer + AVFRAME_WIDTH_OFFSET + 12)
        if (width, height) != (frame.width, frame.height) or fmt != AV_PIX_FMT_YUV420P:
            return None
        return pointer

    def attach(self, frame: av.VideoFrame, qoffsets: np.ndarray) -> bool:
        """Attach ``qoffsets`` (rows x cols of macroblocks, in QP steps) to a yuv420p frame."""
        if not self.available:
            return False
        pointer = self._frame_pointer(frame, self._offset)
        if pointer is None:
            return False
        regions = []
        steps = np.rint(qoffsets).astype(int)
        for row in range(steps.shape[0]):
            values = steps[row]
            start = 0
            for col in range(1, len(values) + 1):
                if col == len(values) or values[col] != values[start]:
                    if values[start]:
                        regions.append((row * MB, min(frame.height, (row + 1) * MB),
                                        start * MB, min(frame.width, col * MB), values[start]))
                    start = col
        if not regions:
            return True
        size = ctypes.sizeof(_Region)
        side = self._util.av_frame_new_side_data(pointer, self._type, size * len(regions))
        if not side:
            return False
        data = ctypes.c_void_p.from_address(side + 8).value  # AVFrameSideData.data
        array = (_Region * len(regions)).from_address(data)
        for i, (top, bottom, left, right, qp) in enumerate(regions):
            array[i] = _Region(size, top, bottom, left, right, int(qp), QP_STEPS)
        return True


def macroblock_offsets(weight_map: np.ndarray, floor: float, key: float,
                       strength: float) -> np.ndarray:
    """QP offsets per 16x16 macroblock: key objects ``-strength``, background ``+strength/2``.

    ``strength`` is in QP steps; the map is the mean weight over each macroblock.
    """
    import cv2

    height, width = weight_map.shape
    cols, rows = -(-width // MB), -(-height // MB)
    mean = cv2.resize(weight_map.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
    t = np.clip((mean - floor) / max(key - floor, 1e-3), 0.0, 1.0)
    return strength * (0.5 * (1.0 - t) - t)


_WRITER: RoiWriter | None = None


def roi_writer() -> RoiWriter:
    """The process-wide writer (the layout probe runs once)."""
    global _WRITER
    if _WRITER is None:
        _WRITER = RoiWriter()
    return _WRITER
