"""Write BGR frames as sensor_msgs/Image into a rosbag2 bag with ``rosbags``."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from semcomm_ros.io.frame_sources import SourceFrame


def write_image_bag(frames: Iterable[SourceFrame], out: str | Path, topic: str,
                    frame_id: str = "camera", storage: str = "mcap",
                    size: tuple[int, int] | None = None) -> int:
    """Write frames to a new bag folder ``out``; returns the number written.

    ``size`` = (width, height) resizes every frame first. ``storage`` is
    ``mcap`` or ``sqlite3``.
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    Image = store.types["sensor_msgs/msg/Image"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    count = 0
    with Writer(Path(out), version=9, storage_plugin=plugin) as writer:
        conn = writer.add_connection(topic, Image.__msgtype__, typestore=store)
        for f in frames:
            img = f.image if size is None else cv2.resize(f.image, size,
                                                          interpolation=cv2.INTER_AREA)
            h, w = img.shape[:2]
            sec, nsec = divmod(f.stamp_ns, 1_000_000_000)
            msg = Image(
                header=Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=frame_id),
                height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3,
                data=np.ascontiguousarray(img).reshape(-1),
            )
            writer.write(conn, f.stamp_ns, store.serialize_cdr(msg, Image.__msgtype__))
            count += 1
    return count
