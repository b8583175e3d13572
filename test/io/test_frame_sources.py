import itertools

import cv2
import numpy as np
import pytest

from semcomm_ros.io.bag_writer import write_image_bag
from semcomm_ros.io.frame_sources import (
    SourceError,
    SourceFrame,
    detect_kind,
    iter_video,
    open_source,
)


def synthetic(n=4, w=32, h=24):
    rng = np.random.default_rng(1)
    return [SourceFrame(i, 1_000_000_000 + i * 100_000_000,
                        rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for i in range(n)]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip_is_exact(tmp_path, storage):
    frames = synthetic()
    out = tmp_path / "bag"
    assert write_image_bag(frames, out, topic="/cam", storage=storage) == 4
    assert detect_kind(out) == "bag"
    back = list(open_source(out))
    assert [f.stamp_ns for f in back] == [f.stamp_ns for f in frames]
    for a, b in zip(frames, back):
        np.testing.assert_array_equal(a.image, b.image)


def test_bag_wrong_topic_is_a_clear_error(tmp_path):
    write_image_bag(synthetic(1), tmp_path / "bag", topic="/cam")
    with pytest.raises(SourceError, match="/other"):
        list(open_source(tmp_path / "bag", topic="/other"))


def test_bag_is_readable_by_rclpy_deserialize(tmp_path):
    """The bag's CDR bytes are real ROS 2 messages (rclpy reads them)."""
    from rclpy.serialization import deserialize_message
    from rosbags.highlevel import AnyReader
    from sensor_msgs.msg import Image

    write_image_bag(synthetic(1), tmp_path / "bag", topic="/cam")
    with AnyReader([tmp_path / "bag"]) as reader:
        (_, _, raw), = list(reader.messages())
    msg = deserialize_message(raw, Image)
    assert (msg.width, msg.height, msg.encoding) == (32, 24, "bgr8")


def test_folder_in_name_order(tmp_path):
    for i, f in enumerate(synthetic(3)):
        cv2.imwrite(str(tmp_path / f"img_{2 - i}.png"), f.image)
    frames = list(open_source(tmp_path, fps=5.0))
    assert detect_kind(tmp_path) == "folder"
    assert [f.stamp_ns for f in frames] == [0, 200_000_000, 400_000_000]


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        list(open_source(tmp_path))
    with pytest.raises(SourceError, match="does not exist"):
        open_source(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(SourceError, match="not a bag"):
        detect_kind(tmp_path / "x.txt")


def test_sample_video_and_bag(opencv_data, sample_bag):
    frames = list(itertools.islice(iter_video(opencv_data / "vtest.avi", fps=10), 3))
    assert frames[0].image.shape == (576, 768, 3)
    assert frames[2].stamp_ns == 200_000_000
    first = next(open_source(sample_bag))
    assert first.image.shape == (480, 640, 3)


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "jpeg", "png"])
def test_bag_of_other_encodings_reads_back_as_bgr(tmp_path, encoding):
    """rgb8 / mono8 Images and jpeg / png CompressedImages come back as the BGR picture."""
    from semcomm_ros.io.frame_sources import image_topics

    frames = [SourceFrame(i, 1_000_000_000 + i * 100_000_000,
                          np.dstack([np.full((24, 32), 40 * (i + 1), np.uint8),
                                     np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1)),
                                     np.full((24, 32), 200, np.uint8)])) for i in range(3)]
    out = tmp_path / "bag"
    assert write_image_bag(frames, out, topic="/cam/x", encoding=encoding) == 3
    msgtype = "CompressedImage" if encoding in ("jpeg", "png") else "Image"
    assert image_topics(out) == [("/cam/x", f"sensor_msgs/msg/{msgtype}", 3)]
    back = list(open_source(out))
    assert [f.index for f in back] == [0, 1, 2]
    for got, want in zip(back, frames):
        assert got.image.shape == (24, 32, 3)
        ref = want.image
        if encoding == "mono8":
            ref = cv2.cvtColor(cv2.cvtColor(ref, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        tol = 12 if encoding == "jpeg" else 0
        assert np.abs(got.image.astype(int) - ref.astype(int)).max() <= tol


def test_bag_first_image_topic_may_be_compressed(tmp_path):
    """A bag whose only camera topic is CompressedImage is read without naming the topic."""
    out = tmp_path / "bag"
    write_image_bag(synthetic(2), out, topic="/cam/image_raw/compressed", encoding="png")
    assert len(list(open_source(out))) == 2
    with pytest.raises(SourceError, match="no sensor_msgs/Image or CompressedImage topic named"):
        list(open_source(out, topic="/other"))
