"""BagRecorder: CDR bytes in, a rosbag2 bag whose every topic (our messages too) reads back."""
import pytest

from semcomm_ros.io.bag_recorder import BagRecorder, typestore


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_recorded_messages_deserialize_with_their_stored_definitions(tmp_path, storage):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    store = typestore()
    LinkState = store.types["semcomm_ros/msg/LinkState"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    fields = {name: 0 for name in LinkState.__dataclass_fields__ if name != "header"}
    fields.update(estimated_throughput_bps=1.5e6, recommended_frame_bytes=1875)
    msg = LinkState(header=Header(stamp=Time(sec=5, nanosec=7), frame_id="base"), **fields)
    cdr = store.serialize_cdr(msg, "semcomm_ros/msg/LinkState")

    bag = tmp_path / "bag"
    rec = BagRecorder(bag, storage)
    rec.add("/semcomm/link_state", "semcomm_ros/msg/LinkState")
    rec.add("/semcomm/detections", "visualization_msgs/msg/MarkerArray")
    for i in range(3):
        rec.write("/semcomm/link_state", 1_000 + i, cdr)
    rec.close()
    assert rec.counts == {"/semcomm/link_state": 3, "/semcomm/detections": 0}

    # a reader that knows only the standard ROS 2 types: our type comes from the bag itself
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {
            "/semcomm/link_state": "semcomm_ros/msg/LinkState",
            "/semcomm/detections": "visualization_msgs/msg/MarkerArray"}
        got = [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert [t for t, _ in got] == [1_000, 1_001, 1_002]
    assert got[0][1].estimated_throughput_bps == 1.5e6
    assert got[0][1].recommended_frame_bytes == 1875 and got[0][1].header.frame_id == "base"

    with pytest.raises(FileExistsError):
        BagRecorder(bag)
