"""Encoder node (robot side): camera Image -> WeightedSemantics within the link budget.

It also listens to the decoder's FrameReports (reliable) and hands each to the
codec (``SemanticEncoder.feedback``): the auto coder keeps its model of what
the base station holds in step with them (a loss heals one round trip later).
"""
from __future__ import annotations

import time

from rclpy.node import Node
from sensor_msgs.msg import Image

from semcomm_ros.codec import SemanticEncoder
from semcomm_ros.config import ENCODER_NODE
from semcomm_ros.msg import FrameReport, LinkState, WeightedSemantics
from semcomm_ros.node_config import EncoderNodeConfig
from semcomm_ros.nodes.convert import frame_to_msg, image_msg_to_bgr
from semcomm_ros.nodes.log_bridge import bridge_library_logs
from semcomm_ros.nodes.params import declare_config, watch_config
from semcomm_ros.nodes.qos import camera_qos, control_qos, image_qos
from semcomm_ros.nodes.runner import run_node


class EncoderNode(Node):
    """Detects, weighs and codes each camera frame; follows LinkState's byte budget."""

    def __init__(self, **kwargs) -> None:
        super().__init__(ENCODER_NODE, **kwargs)
        bridge_library_logs(self)  # library warnings (detector fallback, ...) -> /rosout
        self.cfg: EncoderNodeConfig = declare_config(self, EncoderNodeConfig)
        self.encoder = SemanticEncoder(self.cfg.codec)
        self.sequence = 0
        self.link_budget: int | None = None
        self.pub = self.create_publisher(WeightedSemantics, self.cfg.topics.semantics,
                                         image_qos(self.cfg.qos))
        self.create_subscription(Image, self.cfg.topics.camera, self._on_image,
                                 camera_qos(self.cfg.qos))
        self.create_subscription(LinkState, self.cfg.topics.link_state, self._on_link_state,
                                 control_qos(self.cfg.qos))
        self.create_subscription(FrameReport, self.cfg.topics.frame_report, self._on_report,
                                 control_qos(self.cfg.qos))
        watch_config(self, EncoderNodeConfig, self._reconfigure)
        self.get_logger().info(f"encoding {self.cfg.topics.camera} -> {self.cfg.topics.semantics}"
                               f", default budget {self.cfg.default_budget_bytes} B/frame")

    def _reconfigure(self, cfg: EncoderNodeConfig) -> None:
        self.encoder.update_config(cfg.codec)
        self.cfg = cfg

    def budget(self) -> int:
        """Byte budget for the next frame."""
        budget = self.cfg.default_budget_bytes
        if self.cfg.use_link_state and self.link_budget is not None:
            budget = self.link_budget
        return max(1, min(budget, self.cfg.max_budget_bytes))

    def _on_link_state(self, msg: LinkState) -> None:
        self.link_budget = int(msg.recommended_frame_bytes)

    def _on_report(self, msg: FrameReport) -> None:
        self.encoder.feedback(msg.sequence, msg.decoded_ok)

    def _on_image(self, msg: Image) -> None:
        try:
            img = image_msg_to_bgr(msg)
            t0 = time.perf_counter()
            frame = self.encoder.encode(img, byte_budget=self.budget(), sequence=self.sequence)
            frame.encode_time_ms = (time.perf_counter() - t0) * 1e3
            frame.source_encoding = msg.encoding
        except Exception as exc:  # noqa: BLE001 - node boundary: log, drop the frame, keep serving
            self.get_logger().error(f"dropping camera frame: {type(exc).__name__}: {exc}")
            return
        out = frame_to_msg(frame, msg.header)
        out.send_stamp = self.get_clock().now().to_msg()
        self.pub.publish(out)
        self.sequence += 1


def main(args: list[str] | None = None) -> None:
    """Entry point: ``semcomm_encoder_node`` / ``ros2 run semcomm_ros encoder_node``."""
    run_node(EncoderNode, args)


if __name__ == "__main__":
    main()
