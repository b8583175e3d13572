"""Detection markers (frame convention) and diagnostics records, without a ROS graph."""
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from semcomm_ros.codec.frame import CodedObject
from semcomm_ros.nodes.diagnostics import WARN, Health, to_array
from semcomm_ros.nodes.markers import objects_to_markers


def _objects():
    return [CodedObject(0, "person", 0.9, 1.0, (100, 50, 40, 120)),
            CodedObject(2, "car", 0.6, 0.3, (300, 200, 80, 40))]


def test_markers_clear_then_draw_box_and_label_per_object_in_the_image_frame():
    header = Header(frame_id="camera")
    out = objects_to_markers(_objects(), header, 640, 480, depth=2.0, scale=0.01)
    assert out.markers[0].action == Marker.DELETEALL
    boxes = [m for m in out.markers if m.type == Marker.LINE_STRIP]
    labels = [m for m in out.markers if m.type == Marker.TEXT_VIEW_FACING]
    assert len(boxes) == len(labels) == 2
    assert all(m.header.frame_id == "camera" for m in out.markers)
    assert len({(m.ns, m.id) for m in boxes + labels}) == 4  # unique ids
    # Pixel (100, 50) -> ((100 - 320) * 0.01, (50 - 240) * 0.01, 2.0): optical frame, y down.
    p = boxes[0].points[0]
    assert (p.x, p.y, p.z) == pytest.approx((-2.2, -1.9, 2.0))
    assert boxes[0].points[0] == boxes[0].points[-1]  # closed outline
    assert labels[0].text.startswith("person 0.90 w1.00")
    assert boxes[0].color.r > boxes[1].color.r  # key object drawn hotter


def test_markers_use_the_camera_intrinsics_when_known():
    k = (500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0)
    out = objects_to_markers(_objects()[:1], Header(frame_id="cam"), 640, 480, depth=1.0,
                             k=k)
    p = [m for m in out.markers if m.type == Marker.LINE_STRIP][0].points[2]  # (140, 170)
    assert (p.x, p.y, p.z) == pytest.approx(((140 - 320) / 500, (170 - 240) / 500, 1.0))


def test_health_becomes_a_diagnostic_status():
    h = Health("semcomm_decoder: decoder")
    h.set(WARN, "no frame yet", decoded=0, decode_ms=1.23456)
    msg = to_array(Header().stamp, [h])
    (status,) = msg.status
    assert status.level == DiagnosticStatus.WARN and status.message == "no frame yet"
    assert {kv.key: kv.value for kv in status.values} == {"decoded": "0", "decode_ms": "1.235"}


def test_the_refiner_takes_one_job_at_a_time_and_refuses_while_busy():
    import threading
    import time

    from semcomm_ros.nodes.decoder_node import Refiner

    started, release, done = threading.Event(), threading.Event(), []

    def work(job):
        started.set()
        release.wait(5)
        done.append(job)

    r = Refiner(work)
    assert r.offer(1)
    assert started.wait(5)
    assert not r.offer(2)  # busy: the caller shows the composite instead
    release.set()
    deadline = time.monotonic() + 5
    while not r.offer(3) and time.monotonic() < deadline:
        time.sleep(0.01)
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == [1, 3]
