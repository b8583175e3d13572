"""Per-region quantiser offsets for libx264 through FFmpeg's ``addroi`` filter.

FFmpeg's libx264 wrapper turns ``AV_FRAME_DATA_REGIONS_OF_INTEREST`` side data
(an array of ``AVRegionOfInterest``: top, bottom, left, right, ``qoffset`` in
[-1, 1] of the QP range, negative = better quality) into x264's per-macroblock
quantiser offsets (x264 needs adaptive quantisation on, its default). The side
data is added by FFmpeg's public ``addroi`` video filter, one filter instance
per rectangle, run through PyAV's filter graph (``av.filter.Graph``): no frame
layout is assumed and no memory is written outside FFmpeg's own API.

:class:`RoiWriter` turns a macroblock map of offsets into a few rectangles (the
most common offset as one whole-frame region, the others as row runs merged
down the rows), builds ``buffer -> addroi x N -> buffersink`` and reuses that
graph while the rectangles and the frame size stay the same (a new set of
rectangles builds a new graph: about 0.5-3 ms; the last few graphs are kept, so
coders sharing the process-wide writer do not rebuild each other's). libx264 gives the first region
of the array priority where regions overlap, and ``addroi`` appends, so the
specific rectangles come first and the whole-frame one last.

When the filter is missing or a probe frame comes back without the side data,
``available`` is False, the reason is logged once as a warning, and the video
coder falls back to prefiltering (it says so too).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from fractions import Fraction

import av
import numpy as np

log = logging.getLogger("semcomm_ros.codec.roi")

MB = 16            # x264 macroblock size
QP_STEPS = 51      # FFmpeg scales qoffset by the 8-bit QP range
MAX_REGIONS = 48   # more rectangles than this: offsets are coarsened until they fit
GRAPH_CACHE = 8    # filter graphs kept for recently seen sets of rectangles

Region = tuple[int, int, int, int, int]  # x, y, w, h (pixels), offset in QP steps


def _has_roi(frame: av.VideoFrame) -> bool:
    """Whether a frame carries REGIONS_OF_INTEREST side data."""
    return any("REGIONS_OF_INTEREST" in str(getattr(sd, "type", "")) for sd in frame.side_data)


def _rectangles(levels: np.ndarray, common: int) -> list[list[int]]:
    """Row runs of equal offset (other than ``common``), merged down identical runs."""
    open_runs: dict[tuple[int, int, int], list[int]] = {}  # (c0, c1, q) -> [r0, r1]
    rects: list[list[int]] = []
    for row in range(levels.shape[0]):
        line = levels[row]
        runs = set()
        start = 0
        for col in range(1, len(line) + 1):
            if col == len(line) or line[col] != line[start]:
                if line[start] != common:
                    runs.add((start, col, int(line[start])))
                start = col
        for key in list(open_runs):
            if key not in runs:
                rects.append([*key, *open_runs.pop(key)])
        for key in runs:
            if key in open_runs:
                open_runs[key][1] = row + 1
            else:
                open_runs[key] = [row, row + 1]
    return rects + [[*key, *span] for key, span in open_runs.items()]


def offsets_to_regions(steps: np.ndarray, width: int, height: int,
                       max_regions: int = MAX_REGIONS) -> list[Region]:
    """Rectangles covering a rows x cols map of integer QP offsets, priority first.

    The most common offset becomes one whole-frame region (last: lowest priority;
    none when it is 0); every other macroblock is covered by a rectangle of its
    own offset (row runs, merged with the identical run of the row above). When
    that needs more than ``max_regions`` rectangles, the offsets are snapped to
    fewer levels between their extremes (16, 8, 4, 3, 2) until it does not; a
    map still too busy keeps its largest rectangles (by area x |offset|).
    """
    steps = np.asarray(steps, int)
    low, high = int(steps.min()), int(steps.max())
    for count in (0, 16, 8, 4, 3, 2):
        if count == 0 or high == low:
            levels = steps
        else:
            span = (high - low) / (count - 1)
            levels = np.rint(low + np.rint((steps - low) / span) * span).astype(int)
        values, counts = np.unique(levels, return_counts=True)
        common = int(values[np.argmax(counts)])
        rects = _rectangles(levels, common)
        if len(rects) + (common != 0) <= max_regions:
            break
    keep = max_regions - (common != 0)
    if len(rects) > keep:
        rects = sorted(rects, key=lambda r: -(r[1] - r[0]) * (r[4] - r[3]) * abs(r[2] - common)
                       )[:keep]
    regions: list[Region] = []
    for c0, c1, q, r0, r1 in sorted(rects, key=lambda r: (r[3], r[0])):
        x, y = c0 * MB, r0 * MB
        regions.append((x, y, min(width, c1 * MB) - x, min(height, r1 * MB) - y, q))
    if common != 0:
        regions.append((0, 0, width, height, common))
    return regions


class RoiWriter:
    """Gives yuv420p frames ROI side data (libx264 quantiser offsets) via ``addroi``."""

    def __init__(self) -> None:
        """Check on a probe frame that the filter exists and its side data comes out."""
        self.available = False
        self.reason = ""
        self._graphs: OrderedDict[tuple, av.filter.Graph] = OrderedDict()  # recent, by regions
        self._failed = False
        try:
            probe = av.VideoFrame(48, 32, "yuv420p")
            out = self.apply(probe, np.array([[-4.0, 0.0, 0.0], [0.0, 0.0, 2.0]]), _probe=True)
            if out is probe or not _has_roi(out):
                raise ValueError("addroi returned a frame without REGIONS_OF_INTEREST side data")
            self.available = True
        except (av.error.FFmpegError, ValueError, KeyError, AttributeError, TypeError) as exc:
            self.reason = f"{type(exc).__name__}: {exc}"
            log.warning("x264 ROI quantiser offsets unavailable (FFmpeg addroi filter through "
                        "PyAV: %s); the video coder falls back to prefilter steering",
                        self.reason)

    def _build(self, width: int, height: int, regions: list[Region]) -> av.filter.Graph:
        graph = av.filter.Graph()
        node = graph.add_buffer(width=width, height=height, format="yuv420p",
                                time_base=Fraction(1, 1000))
        for x, y, w, h, q in regions:
            roi = graph.add("addroi", f"x={x}:y={y}:w={w}:h={h}:qoffset={q}/{QP_STEPS}")
            node.link_to(roi)
            node = roi
        sink = graph.add("buffersink")
        node.link_to(sink)
        graph.configure()
        return graph

    def apply(self, frame: av.VideoFrame, qoffsets: np.ndarray,
              _probe: bool = False) -> av.VideoFrame:
        """``frame`` (yuv420p) with ``qoffsets`` (rows x cols macroblocks, QP steps) attached.

        Returns the filtered frame to encode (its pts is the caller's to set), or
        ``frame`` itself when there is nothing to attach or ROI is unavailable.
        """
        if not (self.available or _probe) or frame.format.name != "yuv420p":
            return frame
        steps = np.rint(np.asarray(qoffsets, float)).astype(int)
        if not steps.any():
            return frame
        regions = offsets_to_regions(steps, frame.width, frame.height)
        key = (frame.width, frame.height, tuple(regions))
        graph = self._graphs.pop(key, None)
        if graph is None:
            graph = self._build(frame.width, frame.height, regions)
        self._graphs[key] = graph  # most recent last
        while len(self._graphs) > GRAPH_CACHE:
            self._graphs.popitem(last=False)
        pts = frame.pts
        frame.pts = 0 if pts is None else pts
        try:
            graph.push(frame)
            out = graph.pull()
        except (av.error.FFmpegError, ValueError) as exc:
            self._graphs.pop(key, None)
            if not self._failed:
                log.warning("addroi filter failed (%s); this frame goes without ROI offsets",
                            exc)
                self._failed = True
            return frame
        finally:
            frame.pts = pts
        return out


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
    """The process-wide writer (the probe runs once)."""
    global _WRITER
    if _WRITER is None:
        _WRITER = RoiWriter()
    return _WRITER
