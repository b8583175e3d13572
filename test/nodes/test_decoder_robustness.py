"""The decoder node fed malformed WeightedSemantics logs, drops them and keeps decoding."""
from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from semcomm_ros.codec import CodecConfig, SemanticEncoder
from semcomm_ros.io.frame_sources import open_source
from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.msg import FrameReport, WeightedSemantics
from semcomm_ros.node_config import TopicsConfig
from semcomm_ros.nodes.convert import frame_to_msg

pytestmark = pytest.mark.integration


def corruptions(good: WeightedSemantics):
    """Malformed variants of a good frame: (name, message)."""
    rng = np.random.default_rng(7)

    def variant(name, mutate):
        m = copy.deepcopy(good)
        mutate(m)
        return name, m

    def garbage_background(m):
        m.background_codec = m.background_codec or "webp"
        m.background = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()

    def garbage_texture(m):
        if m.objects:
            m.objects[0].texture_codec = m.objects[0].texture_codec or "webp"
            m.objects[0].texture = b"\xff" * 300
        else:
            m.gist = b"\x00\x01garbage"

    yield variant("garbage background bytes", garbage_background)
    yield variant("garbage object texture", garbage_texture)
    yield variant("absurd source size", lambda m: setattr(m, "source_width", 4_000_000_000))
    yield variant("zero source size", lambda m: setattr(m, "source_height", 0))
    yield variant("weight map size mismatch", lambda m: setattr(m, "weight_map_width", 60000))
    yield variant("unknown format version", lambda m: setattr(m, "format_version", 999))
    yield variant("unknown codec", lambda m: setattr(m, "background_codec", "xyz"))

    def truncated_background(m):
        m.background = bytes(m.background[: len(m.background) // 3])

    yield variant("truncated background", truncated_background)


def test_decoder_drops_bad_frames_and_keeps_serving(ros_node, sample_bag, tmp_path):
    """Every malformed variant is reported decoded_ok=False and logged; good frames go on."""
    topics = TopicsConfig()
    graph = Graph([NodeProcess("decoder_node", {"reconstruction.backend": "none"})],
                  log_dir=tmp_path / "logs")
    encoder = SemanticEncoder(CodecConfig())
    images = [f.image for f in itertools.islice(open_source(sample_bag), 640, 646)]

    def coded(image, sequence):
        frame = encoder.encode(image, byte_budget=8000, sequence=sequence)
        return frame_to_msg(frame, Header(frame_id="camera"))

    # Good frames carry the sequence numbers they are sent with: with the auto coder each
    # names the one before it as its reference (the bad ones in between are not references).
    goods = [coded(image, i) for i, image in enumerate(images[:3])]
    bad = list(corruptions(goods[0]))  # the first frame surely carries a background
    assert goods[0].background, "first frame without background layer"
    goods += [coded(image, 3 + len(bad) + i) for i, image in enumerate(images[3:])]

    recons, reports = [], []
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    ros_node.create_subscription(Image, topics.reconstruction, recons.append,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT))
    ros_node.create_subscription(FrameReport, topics.frame_report, reports.append, reliable)
    # reliable, deep publisher: every message reaches the decoder, none is lost to QoS
    pub = ros_node.create_publisher(WeightedSemantics, topics.semantics, reliable)
    with graph:
        assert ros_node.spin_until(lambda: pub.get_subscription_count() >= 1
                                   or bool(graph.failed()), 180), "decoder did not start"
        assert not graph.failed()
        ros_node.spin_until(lambda: False, 1.5)  # let the decoder's side of discovery finish
        seq = 0
        sequence = [("good", g) for g in goods[:3]] + bad + [("good", g) for g in goods[3:]]
        expected = {}
        for name, msg in sequence:
            assert name != "good" or msg.sequence == seq
            msg.sequence = seq
            msg.header.stamp = ros_node.get_clock().now().to_msg()
            msg.send_stamp = msg.header.stamp
            expected[seq] = name
            pub.publish(msg)
            seq += 1
            ros_node.spin_until(lambda n=seq: len(reports) >= n, 10)
        assert not graph.failed(), "decoder died on bad input"
    log = (tmp_path / "logs" / "decoder_node.log").read_text()

    ok = {r.sequence: r.decoded_ok for r in reports}
    assert set(ok) == set(expected), f"missing reports: {set(expected) - set(ok)}"
    for s, name in expected.items():
        assert ok[s] == (name == "good"), f"frame {s} ({name}): decoded_ok={ok[s]}"
    assert len(recons) == len(goods), "good frames after the bad ones were not decoded"
    assert log.count("dropping frame") == len(bad), log[-3000:]
