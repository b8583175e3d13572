"""Received objects as rviz markers, in the image's own frame.

Frame convention (also in docs/architecture.md): markers carry the image's
``header.frame_id`` and live in that frame as an optical frame (REP 103: x right,
y down, z forward). An image pixel (u, v) is drawn on the plane z = ``depth``:
with a CameraInfo, at ((u - cx) / fx * depth, (v - cy) / fy * depth, depth), so
that the boxes line up with a camera drawn by rviz; without one, at
((u - w/2) * scale, (v - h/2) * scale, depth). In rviz, set the fixed frame to
the camera frame (``camera`` for the bundled source) — no TF is needed.
"""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

NAMESPACE = "semcomm_detections"


class PixelPlane:
    """Maps image pixels to points on the plane z = depth of the optical frame."""

    def __init__(self, width: int, height: int, depth: float, scale: float,
                 k: tuple[float, ...] | None = None) -> None:
        """``k``: CameraInfo.k (row-major 3x3) or None for the fixed pixel scale."""
        self.depth = depth
        if k is not None and len(k) == 9 and k[0] > 0 and k[4] > 0:
            fx, cx, fy, cy = k[0], k[2], k[4], k[5]
            self.sx, self.sy = depth / fx, depth / fy
            self.cx, self.cy = cx, cy
        else:
            self.sx = self.sy = scale
            self.cx, self.cy = width / 2.0, height / 2.0

    def point(self, u: float, v: float) -> Point:
        """The 3-D point of pixel (u, v)."""
        return Point(x=(u - self.cx) * self.sx, y=(v - self.cy) * self.sy, z=self.depth)


def weight_colour(weight: float) -> ColorRGBA:
    """Blue (low weight) to red (key object), opaque."""
    w = min(1.0, max(0.0, float(weight)))
    return ColorRGBA(r=w, g=0.2, b=1.0 - w, a=1.0)


def objects_to_markers(objects, header: Header, width: int, height: int, depth: float = 1.0,
                       scale: float = 0.001, k: tuple[float, ...] | None = None,
                       lifetime_s: float = 1.0) -> MarkerArray:
    """One DELETEALL, then per object a box outline and a 'label conf weight' text."""
    plane = PixelPlane(width, height, depth, scale, k)
    out = MarkerArray()
    out.markers.append(Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL))
    life = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
    text_height = max(0.02, 16 * plane.sy)
    for i, obj in enumerate(objects):
        x, y, w, h = (float(v) for v in obj.box)
        colour = weight_colour(obj.weight)
        box = Marker(header=header, ns=NAMESPACE, id=2 * i, type=Marker.LINE_STRIP,
                     action=Marker.ADD, lifetime=life, color=colour)
        box.pose.orientation.w = 1.0
        box.scale.x = max(0.002, 2 * plane.sx)  # line width: about two pixels
        box.points = [plane.point(u, v) for u, v in
                      ((x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y))]
        label = Marker(header=header, ns=NAMESPACE, id=2 * i + 1, type=Marker.TEXT_VIEW_FACING,
                       action=Marker.ADD, lifetime=life, color=colour)
        label.pose.position = plane.point(x + w / 2.0, max(0.0, y - 10))
        label.pose.orientation.w = 1.0
        label.scale.z = text_height
        label.text = f"{obj.label} {obj.confidence:.2f} w{obj.weight:.2f}"
        out.markers += [box, label]
    return out
