"""Robot side: the semantic encoder (and optionally a recorded source as the camera).

ros2 launch semcomm_ros robot.launch.py [config:=/path/semcomm.yaml] [source:=/path/bag]
"""
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    config = LaunchConfiguration("config")
    source = LaunchConfiguration("source")
    share = FindPackageShare("semcomm_ros")
    return LaunchDescription([
        # large shared-memory segment for raw images between local processes (fastdds.xml)
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               PathJoinSubstitution([share, "config", "fastdds.xml"])),
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution(
                [share, "config", "semcomm.yaml"]),
            description="ROS 2 parameter file for all semcomm nodes"),
        DeclareLaunchArgument(
            "source", default_value="",
            description="bag / video / image folder to play as the camera (empty: none)"),
        Node(package="semcomm_ros", executable="source_node", name="semcomm_source",
             parameters=[config, {"source": source}],
             condition=IfCondition(PythonExpression(["'", source, "' != ''"]))),
        Node(package="semcomm_ros", executable="encoder_node", name="semcomm_encoder",
             parameters=[config], output="screen"),
    ])
