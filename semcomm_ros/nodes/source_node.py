"""Source node: plays a bag, a video file or an image folder as a camera topic.

Stands in for a camera driver in demos and replay evaluation. Frames are
stamped with the publishing time, so end-to-end latency is measured from
the moment the "camera" delivered the image.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from semcomm_ros.config import SOURCE_NODE
from semcomm_ros.io.frame_sources import SourceError, open_source
from semcomm_ros.node_config import SourceNodeConfig
from semcomm_ros.nodes.convert import bgr_to_image_msg
from semcomm_ros.nodes.log_bridge import bridge_library_logs
from semcomm_ros.nodes.params import changed, declare_config, watch_config
from semcomm_ros.nodes.qos import camera_qos
from semcomm_ros.nodes.runner import run_node
from semcomm_ros.nodes.wiring import Wiring
from semcomm_ros.paths import SHARE

#: settings that reopen the source when changed live
PLAYBACK = ("source", "bag_topic", "start_index", "max_frames")


class SourceNode(Node):
    """Publishes frames of a recorded source at a fixed rate."""

    def __init__(self, **kwargs) -> None:
        super().__init__(SOURCE_NODE, **kwargs)
        bridge_library_logs(self)  # library warnings (detector fallback, ...) -> /rosout
        self.cfg: SourceNodeConfig = declare_config(self, SourceNodeConfig)
        self.published = 0
        self._pending = None
        self._wait_since: float | None = None
        self._frames = self._open(self.cfg)
        self.wiring = Wiring(self)
        self._wire()
        watch_config(self, SourceNodeConfig, self._reconfigure, self._check)
        self.get_logger().info(f"playing {self.cfg.source} on {self.cfg.topics.camera} "
                               f"at {self.cfg.rate_hz:g} Hz")

    def _wire(self) -> None:
        self.pub = self.wiring.publisher(Image, self.cfg.topics.camera, camera_qos(self.cfg.qos))
        self.timer = self.wiring.timer(1.0 / self.cfg.rate_hz, self._tick)

    @staticmethod
    def _open(cfg: SourceNodeConfig):
        source = Path(cfg.source)
        if not source.is_absolute() and not source.exists():  # relative to the repository
            source = SHARE / source
        frames = open_source(source, fps=cfg.rate_hz, topic=cfg.bag_topic or None)
        stop = cfg.start_index + cfg.max_frames if cfg.max_frames else None
        return itertools.islice(frames, cfg.start_index, stop)

    def _check(self, old: SourceNodeConfig, new: SourceNodeConfig) -> str | None:
        """A new source must open before it replaces the one playing."""
        if changed(old, new, *PLAYBACK):
            try:
                self._pending = self._open(new)
            except SourceError as exc:
                return str(exc)
        return None

    def _reconfigure(self, cfg: SourceNodeConfig) -> None:
        old, self.cfg = self.cfg, cfg
        if changed(old, cfg, *PLAYBACK):
            self._frames, self._pending = self._pending, None
            self.published = 0
            self.get_logger().info(f"now playing {cfg.source} from frame {cfg.start_index}")
        if changed(old, cfg, "topics", "qos", "rate_hz", *PLAYBACK):  # restarts a finished one
            self.wiring.clear()
            self._wire()

    def _subscribers_ready(self) -> bool:
        """Before the first frame: are `wait_for_subscribers` readers matched (or timed out)?"""
        want = self.cfg.wait_for_subscribers
        if self.published or want <= 0:
            return True
        have = self.pub.get_subscription_count()
        if have >= want:
            return True
        now = time.monotonic()
        if self._wait_since is None:
            self._wait_since = now
            self.get_logger().info(f"waiting for {want} subscriber(s) on "
                                   f"{self.cfg.topics.camera} (have {have})")
        if now - self._wait_since >= self.cfg.wait_timeout_s:
            self.get_logger().warning(f"starting with {have} of {want} subscriber(s) after "
                                      f"{self.cfg.wait_timeout_s:g} s")
            self._wait_since = None
            return True
        return False

    def _tick(self) -> None:
        if not self._subscribers_ready():
            return
        frame = next(self._frames, None)
        if frame is None:
            if not self.cfg.loop:
                self.get_logger().info(f"source finished after {self.published} frames")
                self.timer.cancel()
                return
            self._frames = self._open(self.cfg)
            frame = next(self._frames, None)
            if frame is None:
                self.timer.cancel()
                return
        img = frame.image
        if self.cfg.width and self.cfg.height:
            img = cv2.resize(img, (self.cfg.width, self.cfg.height),
                             interpolation=cv2.INTER_AREA)
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.cfg.frame_id)
        self.pub.publish(bgr_to_image_msg(img, header))
        self.published += 1


def main(args: list[str] | None = None) -> None:
    """Entry point: ``semcomm_source_node`` / ``ros2 run semcomm_ros source_node``."""
    run_node(SourceNode, args, fatal=(SourceError,))


if __name__ == "__main__":
    main()
