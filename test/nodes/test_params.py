"""Config dataclasses as ROS parameters: declared with descriptors, overridable, validated."""
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from semcomm_ros.node_config import EncoderNodeConfig, LinkMonitorNodeConfig
from semcomm_ros.nodes.params import declare_config, watch_config


def make_node(name, overrides=()):
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = Node(name, context=ctx, parameter_overrides=[Parameter(k, value=v)
                                                        for k, v in overrides])
    return ctx, node


def test_declares_every_leaf_with_descriptor_and_overrides():
    ctx, node = make_node("p1", [("link.window_s", 3.0), ("publish_rate_hz", 2.0)])
    try:
        cfg = declare_config(node, LinkMonitorNodeConfig)
        assert cfg.link.window_s == 3.0 and cfg.publish_rate_hz == 2.0
        desc = node.describe_parameter("link.capacity_window_s")
        assert "max" in desc.description.lower()
        assert node.describe_parameter("qos.image_depth").type == ParameterType.PARAMETER_INTEGER
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_runtime_change_is_validated_and_applied():
    ctx, node = make_node("p2")
    seen = []
    try:
        declare_config(node, EncoderNodeConfig)
        watch_config(node, EncoderNodeConfig, seen.append)
        ok = node.set_parameters([Parameter("codec.weights.class_priorities",
                                            value=["person=1.0", "*=0.2"])])[0]
        assert ok.successful
        assert seen[-1].codec.weights.class_priorities == ["person=1.0", "*=0.2"]
        bad = node.set_parameters([Parameter("qos.image_reliability", value="sometimes")])[0]
        assert not bad.successful and "reliab" in bad.reason
        assert node.get_parameter("qos.image_reliability").value == "best_effort"
        bad_budget = node.set_parameters([Parameter("default_budget_bytes", value=-5)])[0]
        assert not bad_budget.successful
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_a_change_that_cannot_apply_live_is_rejected_with_its_reason():
    ctx, node = make_node("p3")
    applied = []
    try:
        declare_config(node, EncoderNodeConfig)

        def check(old, new):
            return "max_budget_bytes is fixed" if new.max_budget_bytes != old.max_budget_bytes \
                else None

        watch_config(node, EncoderNodeConfig, applied.append, check)
        bad = node.set_parameters([Parameter("max_budget_bytes", value=100_000)])[0]
        assert not bad.successful and "cannot apply live: max_budget_bytes" in bad.reason
        assert node.get_parameter("max_budget_bytes").value == 200_000 and applied == []
        ok = node.set_parameters([Parameter("default_budget_bytes", value=3000)])[0]
        assert ok.successful and applied[-1].default_budget_bytes == 3000
        # the next check compares against what was applied
        ok = node.set_parameters([Parameter("default_budget_bytes", value=2000)])[0]
        assert ok.successful and applied[-1].default_budget_bytes == 2000
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_source_node_reopens_a_new_source_live_and_refuses_one_that_does_not_open(sample_bag):
    from semcomm_ros.nodes.source_node import SourceNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = SourceNode(context=ctx, parameter_overrides=[
        Parameter("source", value=str(sample_bag)), Parameter("rate_hz", value=1.0)])
    try:
        bad = node.set_parameters([Parameter("source", value="/nonexistent/bag")])[0]
        assert not bad.successful and "cannot apply live" in bad.reason
        assert node.cfg.source == str(sample_bag)
        ok = node.set_parameters([Parameter("start_index", value=700),
                                  Parameter("rate_hz", value=20.0)])[0]
        assert ok.successful and node.cfg.start_index == 700
        assert abs(node.timer.timer_period_ns - 50_000_000) < 1000  # the new rate is live
        first = next(node._frames)
        assert first.index == 700
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_source_node_holds_the_first_frame_until_subscribers_match(sample_bag):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from semcomm_ros.nodes.source_node import SourceNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = SourceNode(context=ctx, parameter_overrides=[
        Parameter("source", value=str(sample_bag)), Parameter("rate_hz", value=50.0),
        Parameter("wait_for_subscribers", value=1), Parameter("wait_timeout_s", value=60.0)])
    listener = Node("wait_listener", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    executor.add_node(listener)
    try:
        for _ in range(10):  # 10 timer periods with nobody listening: nothing is played
            executor.spin_once(timeout_sec=0.02)
        assert node.published == 0
        got = []
        listener.create_subscription(Image, node.cfg.topics.camera, got.append,
                                 qos_profile_sensor_data)  # best effort, as the camera
        for _ in range(300):
            executor.spin_once(timeout_sec=0.02)
            if got:
                break
        assert node.published >= 1 and got, "played once a subscriber matched"
    finally:
        executor.shutdown()
        listener.destroy_node()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
