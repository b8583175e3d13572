"""Integration: the encoder node hands FrameReports to the codec's decoder model, over DDS.

The test process is the camera and the base station: it answers every
WeightedSemantics with a FrameReport. Reported lost, no frame may build on
another (every one is a still); reported decoded, frames build on the last
one (skip / video naming a reference).
"""
from __future__ import annotations

import itertools

import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from semcomm_ros.codec.frame import MODE_PART, MODE_SKIP, MODE_STILL, MODE_VIDEO
from semcomm_ros.io.frame_sources import open_source
from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.msg import FrameReport, WeightedSemantics
from semcomm_ros.node_config import TopicsConfig
from semcomm_ros.nodes.convert import bgr_to_image_msg

pytestmark = pytest.mark.integration
FRAMES = 6


@pytest.mark.parametrize("decoded_ok", [False, True])
def test_encoder_follows_frame_reports(ros_node, sample_bag, tmp_path, decoded_ok):
    topics = TopicsConfig()
    g = Graph([NodeProcess("encoder_node", {"default_budget_bytes": 4000,
                                            "codec.texture.coder": "auto"})],
              log_dir=tmp_path / "logs")
    got: list[WeightedSemantics] = []
    best_effort = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
    ros_node.create_subscription(WeightedSemantics, topics.semantics, got.append, best_effort)
    camera = ros_node.create_publisher(Image, topics.camera,
                                       QoSProfile(depth=1,
                                                  reliability=ReliabilityPolicy.BEST_EFFORT))
    reports = ros_node.create_publisher(FrameReport, topics.frame_report, 10)
    g.start()
    try:
        up = ros_node.spin_until(lambda: camera.get_subscription_count() >= 1
                                 and reports.get_subscription_count() >= 1
                                 or bool(g.failed()), 180)
        assert up and not g.failed(), f"encoder did not start: {g.failed()}, logs {tmp_path}"
        for frame in itertools.islice(open_source(sample_bag), 600, 600 + FRAMES):
            count = len(got)
            header = Header(stamp=ros_node.get_clock().now().to_msg(), frame_id="camera")
            camera.publish(bgr_to_image_msg(frame.image, header))
            if not ros_node.spin_until(lambda c=count: len(got) > c, 20):
                continue  # (a best-effort camera frame may be dropped)
            msg = got[-1]
            reports.publish(FrameReport(sequence=msg.sequence, bytes=msg.bytes_used,
                                        send_stamp=msg.send_stamp,
                                        receive_stamp=ros_node.get_clock().now().to_msg(),
                                        decoded_ok=decoded_ok))
            ros_node.spin_until(lambda: False, 0.3)  # the reliable report arrives first
        assert not g.failed()
    finally:
        g.stop()
    assert len(got) >= FRAMES - 2, f"{len(got)} of {FRAMES} frames coded"
    modes = [m.texture_mode for m in got[1:]]
    if decoded_ok:
        assert set(modes) & {MODE_VIDEO, MODE_SKIP}, modes
        assert all(m.ref_sequence < m.sequence for m in got[1:]
                   if m.texture_mode in (MODE_VIDEO, MODE_SKIP))
    else:
        assert set(modes) <= {MODE_STILL, MODE_PART}, modes
