"""Decoder node (base station): WeightedSemantics -> reconstructed Image, plus FrameReports."""
from __future__ import annotations

import time

from rclpy.node import Node
from sensor_msgs.msg import Image

from semcomm_ros.codec import BitstreamError, CompositionDecoder
from semcomm_ros.codec.frame import MissingReference
from semcomm_ros.config import DECODER_NODE
from semcomm_ros.msg import FrameReport, WeightedSemantics
from semcomm_ros.node_config import DecoderNodeConfig
from semcomm_ros.nodes.convert import bgr_to_image_msg, msg_to_frame, received_bytes
from semcomm_ros.nodes.log_bridge import bridge_library_logs
from semcomm_ros.nodes.params import declare_config
from semcomm_ros.nodes.qos import control_qos, image_qos
from semcomm_ros.nodes.runner import run_node
from semcomm_ros.reconstruction import make_reconstructor
from semcomm_ros.visualize import weight_overlay


class DecoderNode(Node):
    """Decodes each frame, rebuilds the image and reports back to the link monitor."""

    def __init__(self, **kwargs) -> None:
        super().__init__(DECODER_NODE, **kwargs)
        bridge_library_logs(self)  # library warnings (detector fallback, ...) -> /rosout
        self.cfg: DecoderNodeConfig = declare_config(self, DecoderNodeConfig)
        self.decoder = CompositionDecoder(self.cfg.codec)
        self.reconstructor = make_reconstructor(self.cfg.reconstruction)
        self.get_logger().info(f"reconstruction backend: {self.reconstructor.name}")
        iq, cq = image_qos(self.cfg.qos), control_qos(self.cfg.qos)
        t = self.cfg.topics
        self.pub_image = self.create_publisher(Image, t.reconstruction, iq)
        self.pub_composite = self.create_publisher(Image, t.composite, iq) if t.composite else None
        self.pub_overlay = self.create_publisher(Image, t.weight_map, iq) if t.weight_map else None
        self.pub_report = self.create_publisher(FrameReport, t.frame_report, cq)
        self.create_subscription(WeightedSemantics, t.semantics, self._on_frame, iq)
        self.decoded = 0
        self.dropped = 0

    def _on_frame(self, msg: WeightedSemantics) -> None:
        received = self.get_clock().now()
        t0 = time.perf_counter()
        report = FrameReport(sequence=msg.sequence, send_stamp=msg.send_stamp,
                             receive_stamp=received.to_msg())
        frame = None
        try:
            frame = msg_to_frame(msg)
            decoded = self.decoder.decode(frame)
            image = self.reconstructor.reconstruct(decoded)
        except MissingReference as exc:
            # Builds on a picture this decoder never got (a loss): show the last one, report
            # decoded_ok = false so the encoder codes the next frame against what we hold.
            self._drop(report, msg, frame, f"reference missing: {exc}", conceal=True)
            return
        except BitstreamError as exc:
            self._drop(report, msg, frame, f"malformed frame: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - node boundary: log, drop, keep serving
            self._drop(report, msg, frame, f"{type(exc).__name__}: {exc}")
            return
        self.pub_image.publish(bgr_to_image_msg(image, msg.header))
        if self.pub_composite is not None:
            self.pub_composite.publish(bgr_to_image_msg(decoded.image, msg.header))
        if self.pub_overlay is not None:
            self.pub_overlay.publish(bgr_to_image_msg(weight_overlay(image, decoded), msg.header))
        report.bytes = received_bytes(msg, frame)
        report.decode_time_ms = (time.perf_counter() - t0) * 1e3
        report.decoded_ok = True
        report.header.stamp = self.get_clock().now().to_msg()
        self.pub_report.publish(report)
        self.decoded += 1

    def _drop(self, report: FrameReport, msg: WeightedSemantics, frame, why: str,
              conceal: bool = False) -> None:
        self.dropped += 1
        concealed = self.decoder.conceal(msg.sequence) if conceal else None
        if concealed is not None:
            self.pub_image.publish(bgr_to_image_msg(concealed.image, msg.header))
        report.bytes = min(received_bytes(msg, frame), 2**32 - 1)
        self.get_logger().warning(f"dropping frame {msg.sequence}: {why}")
        report.decoded_ok = False
        report.header.stamp = self.get_clock().now().to_msg()
        self.pub_report.publish(report)


def main(args: list[str] | None = None) -> None:
    """Entry point: ``semcomm_decoder_node`` / ``ros2 run semcomm_ros decoder_node``."""
    run_node(DecoderNode, args)


if __name__ == "__main__":
    main()
