"""The launch files, checked without launch / launch_ros (not on the package registry).

test/nodes/test_colcon_launch.py runs them with ``ros2 launch`` from a colcon install where
../shared/ros-python provides those wheels. Here: they compile; every executable they start
is installed by CMakeLists.txt and exists in scripts/ and setup.py; every node name has a
section in config/semcomm.yaml; every parameter they set exists in that node's schema.
"""
import ast
import re

import pytest

from semcomm_ros import config as c
from semcomm_ros.config import to_flat_params

LAUNCH_FILES = ["robot.launch.py", "base_station.launch.py", "semcomm.launch.py"]


def node_calls(tree):
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            if ast.literal_eval(kw["package"]) == "semcomm_ros":
                yield kw


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_file_compiles_and_names_real_things(repo, name):
    from semcomm_ros import node_config as nc

    schema = nc.NODE_SCHEMA
    source = (repo / "launch" / name).read_text()
    tree = ast.parse(source)
    compile(tree, name, "exec")
    cmake = (repo / "CMakeLists.txt").read_text()
    setup = (repo / "setup.py").read_text()
    sections = c.load_sections(repo / "config" / "semcomm.yaml")
    for kw in node_calls(tree):
        exe = ast.literal_eval(kw["executable"])
        node = ast.literal_eval(kw["name"])
        assert (repo / "scripts" / exe).exists(), exe
        assert f"scripts/{exe}" in cmake, exe
        assert f'"{exe}": "semcomm_ros.nodes.{exe}:main"' in setup, exe
        assert (repo / "semcomm_ros" / "nodes" / f"{exe}.py").exists(), exe
        assert node in sections, node
        params = set(to_flat_params(schema[node]()))
        for item in ast.walk(kw.get("parameters", ast.List(elts=[]))):
            if isinstance(item, ast.Dict):
                for key in item.keys:
                    assert ast.literal_eval(key) in params, (node, ast.literal_eval(key))
    for included in re.findall(r'"(\w+\.launch\.py)"', source):
        assert (repo / "launch" / included).exists(), included


def test_rviz_config_shows_the_demo_topics(repo):
    import yaml

    from semcomm_ros.node_config import SourceNodeConfig, TopicsConfig

    rviz = yaml.safe_load((repo / "rviz" / "semcomm.rviz").read_text())
    manager = rviz["Visualization Manager"]
    displays = manager["Displays"]
    for d in displays:
        assert {"Class", "Name", "Enabled"} <= set(d), d
        assert d["Class"].startswith("rviz_default_plugins/"), d["Class"]
    by_topic = {d["Topic"]["Value"]: d["Class"] for d in displays if "Topic" in d}
    t = TopicsConfig()
    for topic in (t.camera, t.reconstruction, t.weight_map, t.composite):
        assert by_topic.get(topic) in ("rviz_default_plugins/Image",
                                       "rviz_default_plugins/Camera"), topic
    assert by_topic[t.detections] == "rviz_default_plugins/MarkerArray"
    assert "rviz_default_plugins/Camera" in {d["Class"] for d in displays}
    # markers live in the images' frame (docs/architecture.md), so that is the fixed frame
    assert manager["Global Options"]["Fixed Frame"] == SourceNodeConfig().frame_id
    for d in displays:  # QoS of image displays matches the best-effort image topics
        if d["Class"] in ("rviz_default_plugins/Image", "rviz_default_plugins/Camera"):
            assert d["Topic"]["Reliability Policy"] == "Best Effort", d["Name"]
