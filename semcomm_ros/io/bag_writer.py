"""Write BGR frames into a rosbag2 bag with ``rosbags``: sensor_msgs/Image or CompressedImage."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from semcomm_ros.io.frame_sources import SourceFrame

#: what ``write_image_bag(encoding=...)`` can write: raw Image encodings, then compressed formats
RAW_ENCODINGS = ("bgr8", "rgb8", "mono8")
COMPRESSED_FORMATS = ("jpeg", "png")


def _payload(img: np.ndarray, encoding: str) -> tuple[np.ndarray, int]:
    """Image pixels in ``encoding`` (flat uint8) and the row step."""
    import cv2

    if encoding == "rgb8":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif encoding == "mono8":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    img = np.ascontiguousarray(img)
    return img.reshape(-1), img.shape[1] * (1 if img.ndim == 2 else img.shape[2])


def write_image_bag(frames: Iterable[SourceFrame], out: str | Path, topic: str,
                    frame_id: str = "camera", storage: str = "mcap",
                    size: tuple[int, int] | None = None, encoding: str = "bgr8") -> int:
    """Write frames to a new bag folder ``out``; returns the number written.

    ``size`` = (width, height) resizes every frame first. ``storage`` is
    ``mcap`` or ``sqlite3``. ``encoding``: ``bgr8``, ``rgb8`` or ``mono8``
    (sensor_msgs/Image), or ``jpeg`` / ``png`` (sensor_msgs/CompressedImage).
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    if encoding not in RAW_ENCODINGS + COMPRESSED_FORMATS:
        raise ValueError(f"encoding {encoding!r}: one of {RAW_ENCODINGS + COMPRESSED_FORMATS}")
    store = get_typestore(Stores.ROS2_KILTED)
    compressed = encoding in COMPRESSED_FORMATS
    Msg = store.types["sensor_msgs/msg/CompressedImage" if compressed
                      else "sensor_msgs/msg/Image"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    count = 0
    with Writer(Path(out), version=9, storage_plugin=plugin) as writer:
        conn = writer.add_connection(topic, Msg.__msgtype__, typestore=store)
        for f in frames:
            img = f.image if size is None else cv2.resize(f.image, size,
                                                          interpolation=cv2.INTER_AREA)
            h, w = img.shape[:2]
            sec, nsec = divmod(f.stamp_ns, 1_000_000_000)
            header = Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=frame_id)
            if compressed:
                ok, data = cv2.imencode(f".{'jpg' if encoding == 'jpeg' else 'png'}", img)
                if not ok:
                    raise ValueError(f"cannot encode a frame as {encoding}")
                msg = Msg(header=header, format=encoding, data=data.reshape(-1))
            else:
                data, step = _payload(img, encoding)
                msg = Msg(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                          step=step, data=data)
            writer.write(conn, f.stamp_ns, store.serialize_cdr(msg, Msg.__msgtype__))
            count += 1
    return count
