"""Recorder node: the system's outputs into a rosbag2 MCAP bag, as received (CDR bytes).

Subscribes to the topics named in ``record`` (reconstruction, weight-map overlay,
detection markers, LinkState, FrameReport, WeightedSemantics by default) with raw
subscriptions, and writes each message with its receive time through
``io.bag_recorder.BagRecorder``. The bag is finished (index, metadata.yaml) when the
node shuts down (Ctrl-C, SIGTERM from ``semcomm run`` or ``ros2 launch``).
"""
from __future__ import annotations

import datetime
import importlib
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile

from semcomm_ros.config import RECORDER_NODE
from semcomm_ros.io.bag_recorder import BagRecorder
from semcomm_ros.node_config import RECORDABLE, RecorderNodeConfig
from semcomm_ros.nodes.params import declare_config
from semcomm_ros.nodes.qos import camera_qos, control_qos, image_qos
from semcomm_ros.nodes.runner import run_node

CONTROL = {"link_state", "frame_report", "diagnostics"}


def message_class(msgtype: str) -> type:
    """``pkg/msg/Name`` -> the Python message class."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def default_path() -> Path:
    """out/record/<UTC time> (like ros2 bag record's rosbag2_<date> folders)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y_%m_%d-%H_%M_%S")
    return Path("out") / "record" / f"semcomm_{now}"


class RecorderNode(Node):
    """Writes every message of the recorded topics into one bag."""

    def __init__(self, **kwargs) -> None:
        super().__init__(RECORDER_NODE, **kwargs)
        self.cfg: RecorderNodeConfig = declare_config(self, RecorderNodeConfig)
        path = Path(self.cfg.path) if self.cfg.path else default_path()
        self.bag = BagRecorder(path, self.cfg.storage)
        self.subs = []
        for name in self.cfg.record:
            topic = getattr(self.cfg.topics, name)
            if not topic:
                self.get_logger().warn(f"topics.{name} is empty: not recorded")
                continue
            msgtype = RECORDABLE[name]
            if name == "camera" and self.cfg.topics.camera_transport == "compressed":
                topic, msgtype = f"{topic}/compressed", "sensor_msgs/msg/CompressedImage"
            self.bag.add(topic, msgtype)
            self.subs.append(self.create_subscription(
                message_class(msgtype), topic, self._writer(topic), self._qos(name), raw=True))
        self.get_logger().info(f"recording {', '.join(self.bag.connections)} into {path} "
                               f"({self.cfg.storage})")

    def _qos(self, name: str) -> QoSProfile:
        if name in CONTROL:
            return control_qos(self.cfg.qos)
        # best effort (the default) matches best-effort and reliable writers alike
        profile = camera_qos(self.cfg.qos) if name == "camera" else image_qos(self.cfg.qos)
        profile.depth = max(profile.depth, self.cfg.image_depth)
        return profile

    def _writer(self, topic: str):
        def write(raw: bytes) -> None:
            self.bag.write(topic, self.get_clock().now().nanoseconds, raw)
        return write

    def destroy_node(self) -> None:
        """Finish the bag, then the node."""
        self.bag.close()
        counts = ", ".join(f"{t} {n}" for t, n in self.bag.counts.items())
        self.get_logger().info(f"bag {self.bag.path} closed: {counts}")
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """``ros2 run semcomm_ros recorder_node``."""
    run_node(RecorderNode, args, fatal=(FileExistsError,))


if __name__ == "__main__":
    main()
