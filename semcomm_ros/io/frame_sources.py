"""Iterate camera frames from a rosbag2 bag, a video file or an image folder.

Every source yields :class:`SourceFrame` (BGR8 image + capture stamp in
nanoseconds). Bags are read with ``rosbags`` (MCAP and sqlite3, no ROS
install needed); videos with OpenCV; folders in file-name order.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from semcomm_ros.io.image_encoding import compressed_to_bgr, image_to_bgr

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm"}


class SourceError(RuntimeError):
    """A frame source cannot be opened or read."""


@dataclass
class SourceFrame:
    """One frame: index in the source, capture stamp (ns) and BGR image."""

    index: int
    stamp_ns: int
    image: np.ndarray


def detect_kind(path: str | Path) -> str:
    """'bag', 'video' or 'folder' for a path, by its shape on disk."""
    p = Path(path)
    if p.is_dir():
        if (p / "metadata.yaml").exists() or any(p.glob("*.mcap")) or any(p.glob("*.db3")):
            return "bag"
        return "folder"
    if p.suffix.lower() in (".mcap", ".db3"):
        return "bag"
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    raise SourceError(f"{path}: not a bag, a video ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                      "or an image folder")


def iter_video(path: str | Path, fps: float = 10.0, start: int = 0,
               stop: int | None = None, step: int = 1) -> Iterator[SourceFrame]:
    """Frames ``start:stop:step`` of a video, stamped at ``fps`` from zero."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"cannot open video {path}")
    try:
        index = 0
        while stop is None or index < stop:
            ok, img = cap.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                yield SourceFrame(index, int(round(index * 1e9 / fps)), img)
            index += 1
    finally:
        cap.release()


def iter_folder(path: str | Path, fps: float = 10.0) -> Iterator[SourceFrame]:
    """Images of a folder in name order, stamped at ``fps``."""
    files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    for index, f in enumerate(files):
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"cannot read image {f}")
        yield SourceFrame(index, int(round(index * 1e9 / fps)), img)


IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def image_topics(path: str | Path) -> list[tuple[str, str, int]]:
    """(topic, message type, message count) of every image topic of a bag, in bag order.

    Image and CompressedImage topics both count; raises SourceError when there is none.
    """
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(path)]) as reader:
        out: dict[str, tuple[str, int]] = {}
        for c in reader.connections:
            if c.msgtype in IMAGE_TYPES:
                msgtype, count = out.get(c.topic, (c.msgtype, 0))
                out[c.topic] = (msgtype, count + (c.msgcount or 0))
    if not out:
        raise SourceError(f"{path}: no sensor_msgs/Image or CompressedImage topic")
    return [(topic, msgtype, count) for topic, (msgtype, count) in out.items()]


def iter_bag(path: str | Path, topic: str | None = None) -> Iterator[SourceFrame]:
    """Image or CompressedImage messages of a rosbag2 bag, from the first one.

    ``topic`` picks the topic; none: the first image topic (Image or
    CompressedImage, JPEG/PNG). Stamps are the header stamps (the bag's receive
    time where a header stamp is zero).
    """
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(path)]) as reader:
        conns = [c for c in reader.connections if c.msgtype in IMAGE_TYPES
                 and (topic is None or c.topic == topic)]
        if not conns:
            raise SourceError(f"{path}: no sensor_msgs/Image or CompressedImage topic"
                              + (f" named {topic}" if topic else ""))
        conns = [c for c in conns if c.topic == conns[0].topic]
        for index, (conn, stamp, raw) in enumerate(reader.messages(connections=conns)):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype.endswith("CompressedImage"):
                img = compressed_to_bgr(msg.data, msg.format)
            else:
                img = image_to_bgr(msg.data, msg.width, msg.height, msg.encoding, msg.step,
                                   bool(msg.is_bigendian))
            header_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            yield SourceFrame(index, header_ns or stamp, img)


def open_source(path: str | Path, fps: float = 10.0, topic: str | None = None
                ) -> Iterator[SourceFrame]:
    """Frames of any supported source."""
    if not Path(path).exists():
        raise SourceError(f"source {path} does not exist")
    kind = detect_kind(path)
    if kind == "bag":
        return iter_bag(path, topic)
    if kind == "video":
        return iter_video(path, fps)
    return iter_folder(path, fps)
