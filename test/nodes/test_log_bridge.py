"""Library log records reach the node's logger and /rosout (the detector's step down, say)."""
from __future__ import annotations

import logging

import pytest
from rcl_interfaces.msg import Log
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.nodes.log_bridge import LIBRARY_LOGGER, RclpyLogHandler, bridge_library_logs


class FakeRosLogger:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda text: self.lines.append((level, text))


class FakeNode:
    def __init__(self):
        self.logger = FakeRosLogger()

    def get_logger(self):
        return self.logger


def test_records_are_forwarded_with_their_level_and_source():
    node = FakeNode()
    handler = bridge_library_logs(node)
    try:
        logging.getLogger("semcomm_ros.codec.detect").warning("falling back to %s", "nanodet")
        logging.getLogger("semcomm_ros.link").error("bad report")
        logging.getLogger("semcomm_ros.codec").debug("not forwarded at INFO")
        logging.getLogger("other_library").warning("not ours")
    finally:
        logging.getLogger(LIBRARY_LOGGER).removeHandler(handler)
    assert node.logger.lines == [
        ("warning", "[semcomm_ros.codec.detect] falling back to nanodet"),
        ("error", "[semcomm_ros.link] bad report")]
    assert isinstance(handler, RclpyLogHandler)


@pytest.mark.integration
def test_detector_step_down_is_on_rosout(ros_node, tmp_path):
    got: list[Log] = []
    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_node.create_subscription(Log, "/rosout", got.append, qos)
    g = Graph([NodeProcess("encoder_node", {"codec.detector.model": "/nonexistent/yolo.pt"})],
              log_dir=tmp_path / "logs")
    g.start()
    try:
        found = ros_node.spin_until(
            lambda: any("COCO ONNX detector" in m.msg and m.level == Log.WARN for m in got)
            or bool(g.failed()), 120)
        crashed = g.failed()
    finally:
        g.stop()
    assert found and not crashed, [m.msg for m in got]
    line = next(m for m in got if "COCO ONNX detector" in m.msg)
    assert line.name.endswith("semcomm_encoder") and "YOLO detector unavailable" in line.msg
