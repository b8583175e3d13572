"""Baseline senders/receivers for `semcomm bench link` (bench only, not part of the product).

The same camera source, the same shaped link, a conventional sender instead of
the semantic loop:

- ``jpeg-be``: fixed-quality JPEG as sensor_msgs/CompressedImage, best effort, keep last 1
- ``jpeg-rel``: the same, reliable (keep last 5): what a default image_transport user gets
- ``x264``: H.264 (PyAV/libx264, ultrafast, zerolatency, VBV-capped at a fixed bitrate,
  a keyframe every 2 s), one access unit per CompressedImage, reliable (a stream
  decoder needs every packet)

``--role send`` runs on the robot side (camera -> link), ``--role receive`` on the
base side; the receiver decodes each frame, records when it had the picture,
and scores every N-th frame against the original the sender left in
``--originals`` (full-frame PSNR: the baselines know no key objects).
Output: CSV rows (``kind``, ``t``, ``stamp_ns``, ``bytes``, ``decoded``, ``psnr``)
when ``--stop`` appears, as the link probes do.
"""
from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from semcomm_ros.bench.link_probe import best_effort, reliable
from semcomm_ros.node_config import TopicsConfig
from semcomm_ros.nodes.convert import image_msg_to_bgr, stamp_to_ns

TOPIC = "/semcomm_bench/baseline"
KINDS = ("jpeg-be", "jpeg-rel", "x264")
FIELDS = ["kind", "t", "stamp_ns", "bytes", "decoded", "psnr"]


def baseline_qos(kind: str):
    """QoS of the baseline topic."""
    if kind == "jpeg-be":
        return best_effort(1)
    return reliable(5 if kind == "jpeg-rel" else 50)


class H264:
    """libx264 through PyAV: BGR frames in, access units out (and back)."""

    def __init__(self, kbit: int, fps: float) -> None:
        self.kbit, self.fps = kbit, fps
        self.enc = None
        self.n = 0

    def encode(self, bgr: np.ndarray) -> bytes:
        """One frame in, its access unit out (empty while the encoder holds it)."""
        from fractions import Fraction

        import av
        if self.enc is None:
            h, w = bgr.shape[:2]
            self.enc = av.CodecContext.create("libx264", "w")
            self.enc.width, self.enc.height = w - w % 2, h - h % 2
            self.enc.pix_fmt = "yuv420p"
            self.enc.time_base = Fraction(1, max(1, round(self.fps)))
            self.enc.bit_rate = self.kbit * 1000
            gop = max(1, round(2 * self.fps))
            self.enc.options = {
                "preset": "ultrafast", "tune": "zerolatency",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:vbv-maxrate="
                               f"{self.kbit}:vbv-bufsize={max(1, round(self.kbit / self.fps))}"}
        h, w = self.enc.height, self.enc.width
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:h, :w]), format="bgr24")
        frame.pts = self.n
        self.n += 1
        return b"".join(bytes(p) for p in self.enc.encode(frame))


class H264Decoder:
    """Access units in, BGR pictures out."""

    def __init__(self) -> None:
        import av
        self.dec = av.CodecContext.create("h264", "r")

    def decode(self, data: bytes) -> np.ndarray | None:
        """The picture of one access unit (None: undecodable)."""
        import av
        try:
            frames = self.dec.decode(av.Packet(data))
        except av.error.FFmpegError:
            return None
        return frames[-1].to_ndarray(format="bgr24") if frames else None


class Sender(Node):
    """Camera -> baseline CompressedImage."""

    def __init__(self, kind: str, quality: int, kbit: int, fps: float,
                 originals: Path | None, every: int) -> None:
        super().__init__("semcomm_bench_baseline_tx")
        self.kind, self.quality = kind, quality
        self.h264 = H264(kbit, fps) if kind == "x264" else None
        self.originals, self.every, self.n = originals, max(1, every), 0
        self.rows: list[dict] = []
        self.pub = self.create_publisher(CompressedImage, TOPIC, baseline_qos(kind))
        self.create_subscription(Image, TopicsConfig().camera, self._camera, reliable(5))

    def _camera(self, m: Image) -> None:
        bgr = image_msg_to_bgr(m)
        if self.h264 is not None:
            data = self.h264.encode(bgr)
            fmt = "h264"
        else:
            data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])[1].tobytes()
            fmt = "jpeg"
        stamp = stamp_to_ns(m.header.stamp)
        if self.originals is not None and self.n % self.every == 0:
            tmp = self.originals / f"{stamp}.tmp.npz"
            np.savez(tmp, image=bgr, boxes=np.zeros((0, 4), np.int32))
            os.replace(tmp, self.originals / f"{stamp}.npz")
        self.n += 1
        if not data:
            return
        out = CompressedImage(header=m.header, format=fmt)
        out.data = data
        self.pub.publish(out)
        self.rows.append({"kind": "sent", "t": time.time(), "stamp_ns": stamp,
                          "bytes": len(data)})


class Receiver(Node):
    """Baseline CompressedImage -> decoded picture, timed and scored."""

    def __init__(self, kind: str, originals: Path | None) -> None:
        super().__init__("semcomm_bench_baseline_rx")
        self.started = False
        self.rows: list[dict] = []
        self.originals = originals
        self.h264 = H264Decoder() if kind == "x264" else None
        self.create_subscription(CompressedImage, TOPIC, self._frame, baseline_qos(kind))

    def _frame(self, m: CompressedImage) -> None:
        self.started = True
        data = bytes(m.data)
        if self.h264 is not None:
            img = self.h264.decode(data)
        else:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        stamp = stamp_to_ns(m.header.stamp)
        row = {"kind": "received", "t": time.time(), "stamp_ns": stamp, "bytes": len(data),
               "decoded": int(img is not None)}
        path = self.originals / f"{stamp}.npz" if self.originals else None
        if img is not None and path is not None and path.exists():
            from semcomm_ros.bench.metrics import psnr
            with np.load(path) as z:
                ref = z["image"]
            h, w = min(ref.shape[0], img.shape[0]), min(ref.shape[1], img.shape[1])
            row["psnr"] = psnr(ref[:h, :w], img[:h, :w])
            path.unlink()
        self.rows.append(row)


def main() -> None:
    """``python -m semcomm_ros.bench.link_baselines --role send|receive --kind K ...``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=("send", "receive"), required=True)
    ap.add_argument("--kind", choices=KINDS, required=True)
    ap.add_argument("--quality", type=int, default=50, help="JPEG quality")
    ap.add_argument("--kbit", type=int, default=1000, help="x264 bitrate")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--originals", default="")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--max-s", type=float, default=1800.0)
    args = ap.parse_args()
    rclpy.init()
    originals = Path(args.originals) if args.originals else None
    node = Sender(args.kind, args.quality, args.kbit, args.fps, originals, args.every) \
        if args.role == "send" else Receiver(args.kind, originals)
    out, stop = Path(args.out), Path(args.stop)
    started = out.with_suffix(".started")
    deadline = time.monotonic() + args.max_s
    try:
        while not stop.exists() and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
            if getattr(node, "started", False) and not started.exists():
                started.write_text("1")
    finally:
        with open(out, "w", newline="") as fh:
            w = csv.DictWriter(fh, FIELDS)
            w.writeheader()
            w.writerows(node.rows)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
