"""The link monitor node over real DDS: FrameReports in, LinkState (+ diagnostics) out.

The node runs as a separate process; this test process plays the decoder (FrameReports of
a 10 fps, ~0.8 Mbit/s stream), stops reporting (the link dies) and reports again.
"""
from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy

from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.msg import FrameReport, LinkState
from semcomm_ros.node_config import TopicsConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def ros_node():
    """An rclpy node in this test process, with spin_until(cond, timeout)."""
    import rclpy
    from rclpy.node import Node

    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("semcomm_link_monitor_probe", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin_until(cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if cond():
                return True
        return cond()

    node.spin_until = spin_until
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def _stamp(t: float):
    from builtin_interfaces.msg import Time
    return Time(sec=int(t), nanosec=int((t % 1) * 1e9))


def test_link_monitor_publishes_state_capacity_and_holds_it_through_silence(ros_node, tmp_path):
    topics = TopicsConfig()
    g = Graph([NodeProcess("link_monitor_node", {"publish_rate_hz": 10.0})],
              log_dir=tmp_path / "logs")
    g.start()
    try:
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pub = ros_node.create_publisher(FrameReport, topics.frame_report, qos)
        states: list[LinkState] = []
        diags: list[DiagnosticArray] = []
        ros_node.create_subscription(LinkState, topics.link_state, states.append, qos)
        ros_node.create_subscription(DiagnosticArray, topics.diagnostics, diags.append, 10)
        assert ros_node.spin_until(lambda: states and pub.get_subscription_count() > 0, 30.0)
        seq = 0

        def report_for(seconds: float) -> None:
            nonlocal seq
            end = time.time() + seconds
            while time.time() < end:
                now = time.time()
                pub.publish(FrameReport(sequence=seq, bytes=10_000, send_stamp=_stamp(now - 0.08),
                                        receive_stamp=_stamp(now), decoded_ok=True))
                seq += 1
                ros_node.spin_until(lambda: False, 0.1)

        t0 = time.time()
        report_for(4.0)
        rate = seq / (time.time() - t0)  # ~10 fps, less on a busy host
        live = states[-1]
        assert live.estimator_state in (LinkState.STATE_NORMAL, LinkState.STATE_PROBING)
        assert live.window_reports >= 10
        assert live.delivered_rate_bps == pytest.approx(80_000 * rate, rel=0.25)
        assert live.capacity_bps == pytest.approx(80_000 * rate, rel=0.35)
        assert live.recommended_frame_rate == pytest.approx(rate, rel=0.25)
        assert 0 <= live.seconds_since_report < 0.5
        n = len(states)
        ros_node.spin_until(lambda: False, 2.5)  # the link dies: no reports
        dead = states[-1]
        assert dead.estimator_state == LinkState.STATE_STALE
        assert dead.estimated_throughput_bps == pytest.approx(50_000)  # keep-alive target
        assert dead.capacity_bps >= 0.7 * live.capacity_bps  # held, not decayed
        assert dead.seconds_since_report > 1.5
        assert len(states) - n >= 15  # still published at ~10 Hz
        ros_node.spin_until(lambda: any(
            s.values and any(kv.key == "state" and kv.value == "STALE" for kv in s.values)
            for d in diags for s in d.status), 3.0)
        report_for(0.3)  # reports return: resume at the held capacity at once
        assert ros_node.spin_until(
            lambda: states[-1].estimator_state != LinkState.STATE_STALE, 2.0)
        assert states[-1].estimated_throughput_bps >= 0.7 * live.capacity_bps
        stale_diag = [kv.value for d in diags for s in d.status for kv in s.values
                      if kv.key == "state"]
        assert "STALE" in stale_diag
    finally:
        g.stop()
