"""MP4 files that browsers play: H.264 (libx264 through PyAV), yuv420p, moov atom first."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


class VideoWriter:
    """BGR frames -> ``path`` (H.264 High, yuv420p, +faststart), sizes rounded down to even."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float,
                 crf: int = 28) -> None:
        import av

        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        self.container = av.open(str(self.path), "w", format="mp4",
                                 options={"movflags": "+faststart"})
        rate = Fraction(max(1, round(fps * 1000)), 1000).limit_denominator(1000)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"preset": "veryfast", "crf": str(crf), "profile": "high"}
        self.stream.codec_context.thread_count = 1
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        """Append one BGR frame (cropped to the even size)."""
        import av

        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image[:self.height, :self.width]), format="bgr24")
        for packet in self.stream.encode(frame.reformat(format="yuv420p")):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush and finish the file."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
