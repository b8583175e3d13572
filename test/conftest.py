"""Shared fixtures: repository paths, sample data, an isolated ROS domain per test session."""
from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

from semcomm_ros.config import dds_environment

REPO = Path(__file__).resolve().parent.parent
SAMPLE_BAG = REPO / "data" / "sample" / "vtest_10hz"
OPENCV_DATA = REPO / "data" / "opencv-doc" / "data"

# An isolated DDS domain for everything this test run starts (nodes inherit it),
# so parallel runs on one machine do not see each other's topics.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(120, 200)))
os.environ.setdefault("YOLO_OFFLINE", "1")
dds_environment(os.environ)  # large-segment shared memory for raw images (config/fastdds.xml)

# A test run started in the background of a non-interactive shell (`cmd &`, nohup, some CI
# runners) inherits SIGINT *ignored*, and so does every process it starts: `ros2 launch`
# and `semcomm run` then never see the Ctrl-C the tests send them to stop a graph cleanly.
# Catch SIGINT here, so that children start with the default disposition again (an exec
# resets caught signals to the default; ignored ones stay ignored).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sample_bag() -> Path:
    if not (SAMPLE_BAG / "metadata.yaml").exists():
        pytest.fail(f"sample bag missing at {SAMPLE_BAG}: run `make setup`")
    return SAMPLE_BAG


@pytest.fixture(scope="session")
def opencv_data() -> Path:
    if not (OPENCV_DATA / "vtest.avi").exists():
        pytest.fail(f"sample data missing at {OPENCV_DATA}: run `make setup`")
    return OPENCV_DATA
