"""Probes run inside the namespaces by ``semcomm bench link``.

``--side base`` (base station): records every
FrameReport (what crossed the link), every LinkState (what the link monitor
concluded; fields read with getattr, so new ones are picked up when they exist)
and every reconstruction (the decoder's JPEG copy, quality 95): when the
operator got the frame, and its key-object PSNR when the robot probe left the
original frame for it. ``--side robot``: records every
WeightedSemantics the encoder published (camera stamp, send stamp, byte budget,
bytes used) and, for every N-th frame, writes the original camera image and the
frame's object boxes to ``--originals`` for the base probe to score.

Both subscribe only to topics local to their namespace, so they add no traffic
to the shaped link. They write ``--out`` (CSV, absolute times in seconds since
the epoch, one clock: both namespaces share the host's) when ``--stop`` appears,
and ``<out>.started`` once the first frame is seen.
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from semcomm_ros.msg import FrameReport, LinkState, WeightedSemantics
from semcomm_ros.node_config import TopicsConfig
from semcomm_ros.nodes.convert import image_msg_to_bgr, stamp_to_ns

BASE_FIELDS = ["kind", "t", "sequence", "bytes", "send_ns", "receive_ns", "stamp_ns",
               "decoded_ok", "picture_updated", "texture_mode", "estimate_bps", "capacity_bps",
               "target_bps", "delivered_bps", "trend_ms_per_s", "loss", "budget_bytes",
               "frame_rate", "state", "queue_delay_ms", "since_report_s", "psnr", "psnr_key"]
ROBOT_FIELDS = ["kind", "t", "sequence", "stamp_ns", "send_ns", "budget", "bytes", "level",
                "texture_mode", "objects", "encode_ms"]

#: LinkState fields recorded when the message has them (others engineers may add some)
LINK_FIELDS = {"estimate_bps": "estimated_throughput_bps", "capacity_bps": "capacity_bps",
               "target_bps": "target_bps", "delivered_bps": "delivered_rate_bps",
               "trend_ms_per_s": "delay_trend_ms_per_s", "loss": "loss_fraction",
               "budget_bytes": "recommended_frame_bytes", "frame_rate": "recommended_frame_rate",
               "state": "estimator_state", "queue_delay_ms": "queue_delay_ms",
               "since_report_s": "seconds_since_report"}


def best_effort(depth: int = 5) -> QoSProfile:
    """Best effort, keep last ``depth``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT)


def reliable(depth: int = 100) -> QoSProfile:
    """Reliable, keep last ``depth``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE)


def key_mask(shape: tuple[int, int], boxes: np.ndarray) -> np.ndarray:
    """HxW bool mask of the (x, y, w, h) boxes."""
    mask = np.zeros(shape, bool)
    for x, y, w, h in boxes.astype(int).reshape(-1, 4):
        mask[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = True
    return mask


class BaseProbe(Node):
    """FrameReports, LinkStates and reconstructions on the base station."""

    def __init__(self, originals: Path | None) -> None:
        super().__init__("semcomm_link_probe_base")
        topics = TopicsConfig()
        self.rows: list[dict] = []
        self.started = False
        self.originals = originals
        self.create_subscription(FrameReport, topics.frame_report, self._report, reliable())
        self.create_subscription(LinkState, topics.link_state, self._state, reliable())
        # the decoder's JPEG copy of the operator's picture: a raw 1.3 MB Image over UDP
        # loopback (DDS is UDP-only in the bench) loses fragments, best effort
        self.create_subscription(CompressedImage, topics.reconstruction.rstrip("/")
                                 + "/compressed", self._image, best_effort())

    def _report(self, m: FrameReport) -> None:
        self.started = True
        self.rows.append({"kind": "report", "t": time.time(), "sequence": m.sequence,
                          "bytes": m.bytes, "send_ns": stamp_to_ns(m.send_stamp),
                          "receive_ns": stamp_to_ns(m.receive_stamp),
                          "decoded_ok": int(m.decoded_ok),
                          "picture_updated": int(getattr(m, "picture_updated", True)),
                          "texture_mode": int(getattr(m, "texture_mode", 0))})

    def _state(self, m: LinkState) -> None:
        row = {"kind": "link", "t": time.time()}
        for col, name in LINK_FIELDS.items():
            if hasattr(m, name):
                row[col] = float(getattr(m, name))
        self.rows.append(row)

    def _image(self, m: CompressedImage) -> None:
        t = time.time()
        stamp = stamp_to_ns(m.header.stamp)
        row = {"kind": "image", "t": t, "stamp_ns": stamp}
        path = self.originals / f"{stamp}.npz" if self.originals else None
        if path is not None and path.exists():
            try:
                from semcomm_ros.bench.metrics import quality
                with np.load(path) as z:
                    ref, boxes = z["image"], z["boxes"]
                import cv2
                test = cv2.imdecode(np.frombuffer(bytes(m.data), np.uint8), cv2.IMREAD_COLOR)
                if test.shape != ref.shape:
                    test = cv2.resize(test, (ref.shape[1], ref.shape[0]))
                q = quality(ref, test, key_mask(ref.shape[:2], boxes), with_ssim=False)
                row.update(psnr=q.psnr, psnr_key=q.psnr_key)
                path.unlink()
            except Exception as exc:  # noqa: BLE001 - a probe must not die on one frame
                self.get_logger().warning(f"psnr of {stamp}: {exc}")
        self.rows.append(row)


class RobotProbe(Node):
    """What the encoder sent; originals of every N-th frame for the base probe's PSNR."""

    def __init__(self, originals: Path | None, every: int) -> None:
        super().__init__("semcomm_link_probe_robot")
        topics = TopicsConfig()
        self.rows: list[dict] = []
        self.started = False
        self.originals, self.every = originals, max(1, every)
        self.frames: dict[int, np.ndarray] = {}
        # the encoder's own camera QoS in the bench is reliable (local, over UDP)
        if originals is not None:
            self.create_subscription(Image, topics.camera, self._camera, reliable(5))
        self.create_subscription(WeightedSemantics, topics.semantics, self._frame, best_effort())

    def _camera(self, m: Image) -> None:
        stamp = stamp_to_ns(m.header.stamp)
        self.frames[stamp] = m
        while len(self.frames) > 30:
            self.frames.pop(next(iter(self.frames)))

    def _frame(self, m: WeightedSemantics) -> None:
        self.started = True
        stamp = stamp_to_ns(m.header.stamp)
        self.rows.append({"kind": "sent", "t": time.time(), "sequence": m.sequence,
                          "stamp_ns": stamp, "send_ns": stamp_to_ns(m.send_stamp),
                          "budget": m.byte_budget, "bytes": m.bytes_used, "level": m.level,
                          "texture_mode": int(getattr(m, "texture_mode", 0)),
                          "objects": len(m.objects),
                          "encode_ms": round(float(getattr(m, "encode_time_ms", 0.0)), 1)})
        img = self.frames.pop(stamp, None)
        if img is not None and self.originals is not None and m.sequence % self.every == 0:
            boxes = np.array([[o.box.x_offset, o.box.y_offset, o.box.width, o.box.height]
                              for o in m.objects], np.int32).reshape(-1, 4)
            tmp = self.originals / f"{stamp}.tmp.npz"
            np.savez(tmp, image=image_msg_to_bgr(img), boxes=boxes)
            os.replace(tmp, self.originals / f"{stamp}.npz")


def main() -> None:
    """``python -m semcomm_ros.bench.link_probe --side base|robot --out F --stop S``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", choices=("base", "robot"), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop", required=True, help="stop (and write --out) when this file exists")
    ap.add_argument("--originals", default="", help="folder for original frames (PSNR)")
    ap.add_argument("--every", type=int, default=5, help="robot: keep every N-th original")
    ap.add_argument("--max-s", type=float, default=1800.0, help="stop after this anyway")
    args = ap.parse_args()
    rclpy.init()
    originals = Path(args.originals) if args.originals else None
    probe = BaseProbe(originals) if args.side == "base" else RobotProbe(originals, args.every)
    out, stop = Path(args.out), Path(args.stop)
    started = out.with_suffix(".started")
    deadline = time.monotonic() + args.max_s
    try:
        while not stop.exists() and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
            if probe.started and not started.exists():
                started.write_text("1")
    finally:
        fields = BASE_FIELDS if args.side == "base" else ROBOT_FIELDS
        with open(out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fields)
            w.writeheader()
            w.writerows(probe.rows)
        probe.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
