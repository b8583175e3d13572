"""The native ROS 2 path end to end: colcon build, then ``ros2 launch`` from the install.

Issue 9, docs/packaging.md: a workspace whose src/ holds this repository is built with colcon.

colcon comes from the package registry, ``launch`` / ``launch_ros`` / ``ros2cli`` from the
wheels in ``../shared/ros-python`` (with ``composition_interfaces`` built from its source),
all in one tool venv layered on the base venv and cached by ``tools/ros_tools.sh``. The
workspace is built against the pip ROS prefix (the base venv) and everything below runs
with the tool venv's Python, which cannot see the clone's editable install: what the nodes
import, read and load comes from ``install/``.

Skipped, saying why, only where ``../shared/ros-python`` (or ``$SEMCOMM_ROS_PYTHON``) is absent.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from semcomm_ros.msg import WeightedSemantics
from semcomm_ros.nodes.convert import stamp_to_ns

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
ROS_PYTHON = Path(os.environ.get("SEMCOMM_ROS_PYTHON", REPO.parent / "shared" / "ros-python"))
PROBE = Path(__file__).with_name("launch_probe.py")
NODES = ["source_node", "encoder_node", "link_monitor_node", "decoder_node"]
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
CAMERA = "/semcomm_test/camera"
RECONSTRUCTION = "/semcomm_test/reconstruction"


@pytest.fixture(scope="module")
def tools() -> Path:
    """The cached tool venv: colcon, launch, launch_ros, ros2cli, composition_interfaces."""
    if not (ROS_PYTHON / "wheels").is_dir():
        pytest.skip(f"{ROS_PYTHON} is absent: no launch / launch_ros / ros2cli wheels, so "
                    "`ros2 launch` cannot run in the pip environment")
    out = subprocess.run(["bash", str(REPO / "tools" / "ros_tools.sh"), str(ROS_PYTHON)],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return Path(out.stdout.split()[-1])


def ros_env(tools: Path) -> dict[str, str]:
    """A shell as a ROS 2 user has it before sourcing the install.

    The ROS prefix and its tools on the paths, nothing of this clone's venv or of the test
    process's own set-up.
    """
    drop = ("_ROS_WHEELS_BOOTSTRAP_COMPLETE", "LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV",
            "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "FASTDDS_DEFAULT_PROFILES_FILE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    base = (REPO / ".venv" / ".base").read_text().strip()
    env["PATH"] = f"{tools}/bin:{env.get('PATH', '/usr/bin:/bin')}"
    env["AMENT_PREFIX_PATH"] = f"{tools}:{base}"
    env["CMAKE_PREFIX_PATH"] = base
    return env


def sourced(install: Path, command: str) -> list[str]:
    """``command`` in bash after ``source install/setup.bash``."""
    return ["bash", "-c", f"source {install}/setup.bash && {command}"]


@pytest.fixture(scope="module")
def install(tools, tmp_path_factory) -> Path:
    """``colcon build`` of a workspace whose src/ holds this repository; its install/."""
    ws = tmp_path_factory.mktemp("colcon_ws")
    (ws / "src").mkdir()
    (ws / "src" / "semcomm_ros").symlink_to(REPO)
    t0 = time.monotonic()
    out = subprocess.run(
        ["colcon", "build", "--event-handlers", "console_cohesion+",
         "--cmake-args", f"-DPython3_EXECUTABLE={tools}/bin/python", "-DBUILD_TESTING=OFF"],
        cwd=ws, env=ros_env(tools), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"colcon build failed:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"
    print(f"colcon build: {time.monotonic() - t0:.1f} s")
    return ws / "install"


def test_colcon_installs_everything(install, tools, tmp_path):
    pkg = install / "semcomm_ros"
    for exe in [*NODES, "recorder_node", "semcomm"]:  # the recorder: launch argument record:=
        assert os.access(pkg / "lib" / "semcomm_ros" / exe, os.X_OK), exe
    assert os.access(pkg / "bin" / "semcomm", os.X_OK)
    share = pkg / "share" / "semcomm_ros"
    for name in ["robot", "base_station", "semcomm"]:
        assert (share / "launch" / f"{name}.launch.py").is_file(), name
    for rel in ["config/semcomm.yaml", "config/fastdds.xml", "rviz/semcomm.rviz",
                "models/embedded_decoder/decoder.json", "package.xml",
                "msg/WeightedSemantics.msg"]:  # the recorder stores these definitions in bags
        assert (share / rel).is_file(), rel
    site = pkg / "lib" / PY / "site-packages" / "semcomm_ros"
    # our __init__.py, not the empty one rosidl_generator_py installs, beside the messages
    assert (site / "__init__.py").read_text() == (REPO / "semcomm_ros" / "__init__.py").read_text()
    assert (site / "msg" / "_weighted_semantics.py").is_file()

    # run from the install (not the clone), the data paths resolve into share/semcomm_ros
    probe = ("import json, semcomm_ros; from semcomm_ros.msg import WeightedSemantics; "
             "from semcomm_ros.config import DEFAULT_CONFIG, FASTDDS_PROFILE; "
             "from semcomm_ros.reconstruction import SHIPPED_CHECKPOINT; "
             "from semcomm_ros.codec.coco_onnx import detector_dirs; "
             "print(json.dumps([semcomm_ros.__file__, str(DEFAULT_CONFIG), str(FASTDDS_PROFILE),"
             " str(SHIPPED_CHECKPOINT), [str(d) for d in detector_dirs()]]))")
    out = subprocess.run(sourced(install, f"python -c '{probe}' && semcomm config"),
                         cwd=tmp_path, env=ros_env(tools), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    init, config, fastdds, checkpoint, detectors = json.loads(out.stdout.splitlines()[0])
    assert Path(init) == site / "__init__.py"
    assert Path(config) == share / "config" / "semcomm.yaml"
    assert Path(fastdds) == share / "config" / "fastdds.xml"
    assert Path(checkpoint) == share / "models" / "embedded_decoder"
    assert str(REPO) not in " ".join(detectors)  # the install has no clone to look in
    assert detectors[-1].endswith("/detectors")
    assert "semcomm_encoder:" in out.stdout  # `semcomm config`, the installed command


def probe_launch(install: Path, tools: Path, launch_file: str, *args: str) -> dict:
    """Node name -> how the launch file would start it (test/nodes/launch_probe.py)."""
    path = install / "semcomm_ros" / "share" / "semcomm_ros" / "launch" / launch_file
    out = subprocess.run(sourced(install, f"python {PROBE} {path} {' '.join(args)}"),
                         env=ros_env(tools), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return {n["name"].rsplit("/", 1)[-1]: n for n in json.loads(out.stdout.splitlines()[-1])}


def test_camera_argument_remaps_the_configured_topic(repo):
    """camera:= remaps the name in robot.launch.py: it must be the shipped topics.camera.

    Needs no ROS tools (the launch files are parsed, not run), so it runs everywhere.
    """
    import ast

    from semcomm_ros.config import load_sections
    from semcomm_ros.node_config import TopicsConfig

    values = {}
    for name in ("robot.launch.py", "semcomm.launch.py"):
        tree = ast.parse((repo / "launch" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == \
                    "CAMERA_TOPIC":
                values[name] = ast.literal_eval(node.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == \
                    "DeclareLaunchArgument" and ast.literal_eval(node.args[0]) == "camera":
                default = {k.arg: k.value for k in node.keywords}["default_value"]
                if isinstance(default, ast.Constant):
                    values[f"{name} default"] = default.value
    shipped = load_sections(repo / "config" / "semcomm.yaml")["semcomm_encoder"]["topics.camera"]
    assert set(values) == {"robot.launch.py", "semcomm.launch.py default"}, values
    assert set(values.values()) == {TopicsConfig().camera} == {shipped}, values


def test_every_launch_argument_takes_effect(install, tools, tmp_path):
    share = install / "semcomm_ros" / "share" / "semcomm_ros"
    custom = tmp_path / "custom.yaml"
    custom.write_text((share / "config" / "semcomm.yaml").read_text())
    nodes = probe_launch(install, tools, "semcomm.launch.py", "source:=/data/bag",
                         f"config:={custom}", f"camera:={CAMERA}", "rviz:=false")
    assert set(nodes) == {"semcomm_source", "semcomm_encoder", "semcomm_link_monitor",
                          "semcomm_decoder"}  # no rviz2 with rviz:=false, no recorder
    for node in nodes.values():
        assert (node["package"], node["params"][0]["path"]) == ("semcomm_ros", str(custom))
    # source:= as a node-specific parameter, after the file: it beats the file's own section
    assert nodes["semcomm_source"]["params"][1]["content"] == {
        "/semcomm_source": {"ros__parameters": {"source": "/data/bag"}}}
    for name in ("semcomm_source", "semcomm_encoder"):
        assert f"/camera/image_raw:={CAMERA}" in nodes[name]["cmd"], name
        assert f"/camera/image_raw/compressed:={CAMERA}/compressed" in nodes[name]["cmd"], name

    nodes = probe_launch(install, tools, "base_station.launch.py", "rviz:=true",
                         "record:=/data/rec")
    recorder = nodes["semcomm_recorder"]  # record:= starts the recorder with that path
    assert (recorder["package"], recorder["executable"]) == ("semcomm_ros", "recorder_node")
    assert recorder["params"][1]["content"] == {
        "/semcomm_recorder": {"ros__parameters": {"path": "/data/rec"}}}
    rviz = nodes["rviz2"]
    assert (rviz["package"], rviz["executable"]) == ("rviz2", "rviz2")
    rviz_file = Path(rviz["cmd"][rviz["cmd"].index("-d") + 1])
    assert rviz_file == share / "rviz" / "semcomm.rviz" and rviz_file.is_file()
    assert nodes["semcomm_decoder"]["params"][0]["path"] == str(share / "config" / "semcomm.yaml")

    nodes = probe_launch(install, tools, "robot.launch.py")  # no source:=, no source node
    assert set(nodes) == {"semcomm_encoder"}


def test_ros2_launch_from_the_install(install, tools, ros_node, sample_bag, tmp_path):
    """semcomm.launch.py with source/config/camera arguments; live class priorities."""
    share = install / "semcomm_ros" / "share" / "semcomm_ros"
    cfg = yaml.safe_load((share / "config" / "semcomm.yaml").read_text())
    cfg["/**"]["ros__parameters"]["topics"]["reconstruction"] = RECONSTRUCTION  # config:=
    source = cfg["semcomm_source"]["ros__parameters"]
    source.update(source="/nonexistent/bag", rate_hz=4.0, loop=True)  # source:= must win
    custom = tmp_path / "custom.yaml"
    custom.write_text(yaml.safe_dump(cfg))

    got = {"recon": [], "sem": []}
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
    ros_node.create_subscription(Image, RECONSTRUCTION, got["recon"].append, qos)
    ros_node.create_subscription(WeightedSemantics, "/semcomm/semantics", got["sem"].append, qos)

    def person_weights(msgs):
        return [o.weight for m in msgs for o in m.objects if o.label == "person"]

    env = ros_env(tools)
    log = tmp_path / "launch.log"
    with open(log, "w") as out:
        launch = subprocess.Popen(
            sourced(install, f"exec ros2 launch semcomm_ros semcomm.launch.py "
                             f"source:={sample_bag} config:={custom} camera:={CAMERA} "
                             f"record:={tmp_path / 'recorded'}"),
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        up = ros_node.spin_until(lambda: (len(got["recon"]) >= 2
                                          and max(person_weights(got["sem"]), default=0) >= 0.5)
                                 or launch.poll() is not None, 240)
        assert up and launch.poll() is None, f"no reconstructions: {log.read_text()[-4000:]}"
        # camera:= remapped the source's and the encoder's camera topic
        pubs = ros_node.get_publisher_names_and_types_by_node("semcomm_source", "/")
        subs = ros_node.get_subscriber_names_and_types_by_node("semcomm_encoder", "/")
        assert CAMERA in dict(pubs) and CAMERA in dict(subs), (pubs, subs)
        assert "/camera/image_raw" not in dict(pubs) | dict(subs)

        # no daemon (it would outlive the test); discovery gets a few seconds, and a retry
        set_cmd = ("ros2 param set --no-daemon --spin-time 5 /semcomm_encoder "
                   "codec.weights.class_priorities \"['person=0.1', '*=1.0']\"")
        for _ in range(3):
            out = subprocess.run(sourced(install, set_cmd), env=env, capture_output=True,
                                 text=True, timeout=120)
            if "Node not found" not in out.stderr:
                break
        assert "Set parameter successful" in out.stdout, out.stdout + out.stderr
        # frames captured after the set returned (older ones queued while the test waited)
        changed = time.time_ns()
        after = lambda: [m for m in got["sem"] if stamp_to_ns(m.header.stamp) > changed]  # noqa: E731
        ros_node.spin_until(lambda: len([m for m in after() if m.objects]) >= 3, 120)
        weights = person_weights(after())
        assert weights, f"no people in the frames after the change: {log.read_text()[-3000:]}"
        # before: person=1.0 x confidence^0.5 (>= 0.5); after: 0.1 x ... + small boost <= 0.3
        assert max(weights) <= 0.31, weights
        assert launch.poll() is None
    finally:
        if launch.poll() is None:
            launch.send_signal(signal.SIGINT)  # as Ctrl-C: ros2 launch stops its nodes
            try:
                launch.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(launch.pid, signal.SIGKILL)  # anything left of the session
        except ProcessLookupError:
            pass
        launch.wait()
    text = log.read_text()
    assert f"playing {sample_bag}" in text  # source:= beat the file's semcomm_source.source
    assert "reconstruction backend: embedded" in text  # shipped model found in share/
    assert "rviz2" not in text  # rviz:=false (the default) starts no rviz
    for exe in NODES:  # every node ran from the install
        assert f"[{exe}-" in text, exe
    # and stopped cleanly on Ctrl-C: a callback cut short by the shutdown is no crash
    # (nodes/runner.py), the decoder joins its refiner thread before it exits
    for exe in NODES:
        assert any(line.startswith(f"[INFO] [{exe}-") and "finished cleanly" in line
                   for line in text.splitlines()), text[-4000:]
    # record:= started the recorder, which finished an MCAP bag of the outputs on Ctrl-C
    assert "[recorder_node-" in text and f"closed: {RECONSTRUCTION}" in text, text[-3000:]
    from rosbags.highlevel import AnyReader

    from semcomm_ros.io.bag_recorder import typestore

    with AnyReader([tmp_path / "recorded"], default_typestore=typestore()) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts.get(RECONSTRUCTION, 0) >= 2 and counts.get("/semcomm/link_state", 0) > 0, counts
