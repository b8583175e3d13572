"""Recording: ``semcomm run --record DIR`` writes the outputs into an MCAP bag that reads back.

The whole graph (source playing a small bag, encoder, link monitor, decoder, recorder) runs
as ``semcomm run`` does, over DDS; the test process watches the reconstruction like an
operator, stops the run with Ctrl-C (SIGINT) once frames flowed, and reads the bag back with
rosbags (every recorded type deserializes), checks the MCAP file is finished, and
reads it with ``semcomm eval``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from semcomm_ros.io.bag_recorder import typestore

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
OUTPUTS = {"/semcomm/reconstruction": "sensor_msgs/msg/Image",
           "/semcomm/weight_map": "sensor_msgs/msg/Image",
           "/semcomm/detections": "visualization_msgs/msg/MarkerArray",
           "/semcomm/link_state": "semcomm_ros/msg/LinkState",
           "/semcomm/frame_report": "semcomm_ros/msg/FrameReport",
           "/semcomm/semantics": "semcomm_ros/msg/WeightedSemantics"}


def small_config(tmp_path: Path) -> Path:
    """The shipped parameter file with composition decoding and a slow, small-picture source."""
    tree = yaml.safe_load((REPO / "config" / "semcomm.yaml").read_text())
    tree["semcomm_decoder"]["ros__parameters"]["reconstruction"]["backend"] = "none"
    src = tree["semcomm_source"]["ros__parameters"]
    src.update(rate_hz=4.0, max_frames=400, start_index=100, width=320, height=240,
               wait_for_subscribers=1)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_run_records_outputs_that_rosbags_mcap_and_eval_read(tmp_path, sample_bag, ros_node):
    bag = tmp_path / "recorded"
    proc = subprocess.Popen(
        [sys.executable, "-m", "semcomm_ros.cli", "--config", str(small_config(tmp_path)),
         "run", "--role", "all", "--source", str(sample_bag), "--record", str(bag)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    ros_node.create_subscription(Image, "/semcomm/reconstruction", seen.append, qos)
    try:
        assert ros_node.spin_until(lambda: len(seen) >= 6, 120), "no reconstruction arrived"
        ros_node.spin_until(lambda: False, 1.0)  # a last LinkState / FrameReport
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the recorder finishes the bag
        out, _ = proc.communicate(timeout=60)
    assert (bag / "metadata.yaml").exists(), out[-3000:]

    from rosbags.highlevel import AnyReader

    store = typestore()
    with AnyReader([bag], default_typestore=store) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == OUTPUTS
        assert all(c.msgcount > 0 for c in reader.connections), \
            {c.topic: c.msgcount for c in reader.connections}
        counts: dict[str, int] = {}
        for conn, _, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
            if conn.topic == "/semcomm/reconstruction":
                assert (msg.width, msg.height) == (320, 240)
            if conn.topic == "/semcomm/semantics":
                assert msg.bytes_used > 0
        assert counts["/semcomm/reconstruction"] >= 6

    # a finished MCAP file (ros2 bag's default storage): magic at both ends, a summary
    (mcap_file,) = bag.glob("*.mcap")
    data = mcap_file.read_bytes()
    assert data[:8] == b"\x89MCAP0\r\n" and data[-8:] == b"\x89MCAP0\r\n"
    assert b"ros2msg" in data and b"cdr" in data  # schemas as ros2 bag writes them

    from semcomm_ros.cli import main

    report = tmp_path / "eval"
    assert main(["eval", str(bag), "--budgets", "50", "--max-frames", "4", "--no-video",
                 "--detect-every", "0", "--jobs", "1", "--out", str(report)]) == 0
    assert "/semcomm/reconstruction" in (report / "index.html").read_text()
