"""Serialized ROS 2 messages into a rosbag2 bag (MCAP or sqlite3), with ``rosbags``; no ROS.

The recorder node hands over each message as the CDR bytes it received (rclpy's raw
subscriptions), so nothing is deserialized on the way to disk. The bag's type
definitions come from the ``rosbags`` ROS 2 type store, plus this package's own
messages read from ``msg/*.msg``, so ``rosbags``, ``ros2 bag`` and MCAP tools can
decode every topic.
"""
from __future__ import annotations

from pathlib import Path

from semcomm_ros.paths import SHARE


def typestore():
    """The ROS 2 type store with semcomm_ros' messages registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted((SHARE / "msg").glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"semcomm_ros/msg/{path.stem}"))
    store.register(types)
    return store


class BagRecorder:
    """``add(topic, msgtype)`` then ``write(topic, stamp_ns, cdr)``; ``close()`` finishes it."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} exists already (rosbag2 writes a new folder)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.store = typestore()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.path, version=9, storage_plugin=plugin)
        self.writer.open()
        self.connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def add(self, topic: str, msgtype: str) -> None:
        """Declare a topic and its type (``sensor_msgs/msg/Image``, ...)."""
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype,
                                                                 typestore=self.store)
            self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, cdr: bytes) -> None:
        """One message as serialized CDR bytes (with its 4-byte encapsulation header)."""
        self.writer.write(self.connections[topic], int(stamp_ns), bytes(cdr))
        self.counts[topic] += 1

    def close(self) -> None:
        """Write the bag's index and metadata.yaml (a bag is readable only after this)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
