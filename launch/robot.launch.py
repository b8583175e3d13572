"""Robot side: the semantic encoder (and optionally a recorded source as the camera).

ros2 launch semcomm_ros robot.launch.py [config:=/path/semcomm.yaml] [source:=/path/bag]
                                        [camera:=/my/camera/image_raw]

Launch-argument values reach the nodes as node-specific parameters: each Node has an explicit
(empty) namespace, so launch_ros writes a dict of parameters under the node's full name
(``/semcomm_source``) rather than the ``/**`` wildcard, and, coming after the parameter file,
it wins over that file's own ``semcomm_source`` section.
"""
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import (
    EnvironmentVariable,
    LaunchConfiguration,
    NotEqualsSubstitution,
    PathJoinSubstitution,
)
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

#: topics.camera in config/semcomm.yaml: the name that the camera:= argument remaps
CAMERA_TOPIC = "/camera/image_raw"
#: topics.camera_info in config/semcomm.yaml: the name that camera_info:= remaps
CAMERA_INFO_TOPIC = "/camera/camera_info"


def generate_launch_description():
    config = LaunchConfiguration("config")
    source = LaunchConfiguration("source")
    # the raw topic, and its image_transport sibling (topics.camera_transport: compressed)
    camera = [(CAMERA_TOPIC, LaunchConfiguration("camera")),
              (f"{CAMERA_TOPIC}/compressed", [LaunchConfiguration("camera"), "/compressed"]),
              (CAMERA_INFO_TOPIC, LaunchConfiguration("camera_info"))]
    share = FindPackageShare("semcomm_ros")
    return LaunchDescription([
        # large shared-memory segment for raw images between local processes (fastdds.xml),
        # unless the environment already names a profile
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", EnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE",
            default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]))),
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution(
                [share, "config", "semcomm.yaml"]),
            description="ROS 2 parameter file for all semcomm nodes"),
        DeclareLaunchArgument(
            "source", default_value="",
            description="bag / video / image folder to play as the camera (empty: none)"),
        DeclareLaunchArgument(
            "camera", default_value=CAMERA_TOPIC,
            description=f"camera image topic (remaps {CAMERA_TOPIC} and its /compressed of the "
                        "encoder and source)"),
        DeclareLaunchArgument(
            "camera_info", default_value=CAMERA_INFO_TOPIC,
            description=f"the camera's CameraInfo topic (remaps {CAMERA_INFO_TOPIC})"),
        Node(package="semcomm_ros", executable="source_node", name="semcomm_source",
             namespace="", parameters=[config, {"source": source}], remappings=camera,
             output="screen", condition=IfCondition(NotEqualsSubstitution(source, ""))),
        Node(package="semcomm_ros", executable="encoder_node", name="semcomm_encoder",
             namespace="", parameters=[config], remappings=camera, output="screen"),
    ])
