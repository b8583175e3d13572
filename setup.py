"""pip install of semcomm_ros (the pip/venv path; colcon uses CMakeLists.txt).

The rosidl-generated ``semcomm_ros.msg`` subpackage is not installed from here:
tools/build_msgs.sh builds it with CMake into the same environment.
"""
from setuptools import find_packages, setup

NODES = {
    "source_node": "semcomm_ros.nodes.source_node:main",
    "encoder_node": "semcomm_ros.nodes.encoder_node:main",
    "link_monitor_node": "semcomm_ros.nodes.link_monitor_node:main",
    "decoder_node": "semcomm_ros.nodes.decoder_node:main",
    "recorder_node": "semcomm_ros.nodes.recorder_node:main",
}

setup(
    name="semcomm_ros",
    version="0.1.0",
    description="Semantic, bandwidth-aware image transport for ROS 2 teleoperation",
    license="Apache-2.0",
    packages=find_packages(include=["semcomm_ros", "semcomm_ros.*"]),
    python_requires=">=3.10",
    entry_points={
        "console_scripts": ["semcomm = semcomm_ros.cli:main"]
        + [f"semcomm_{name} = {target}" for name, target in NODES.items()],
    },
)
