"""Base-station side: link monitor and diffusion decoder (optionally rviz2 and a recorder).

ros2 launch semcomm_ros base_station.launch.py [config:=...] [rviz:=true] [record:=/path/bag]

record:=DIR starts the recorder node, which writes the outputs (reconstruction, weight-map
overlay, detection markers, LinkState, FrameReport, WeightedSemantics) into a new MCAP bag DIR.
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


def generate_launch_description():
    config = LaunchConfiguration("config")
    share = FindPackageShare("semcomm_ros")
    return LaunchDescription([
        # large shared-memory segment for raw images between local processes (fastdds.xml),
        # unless the environment already names a profile
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", EnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE",
            default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]))),
        DeclareLaunchArgument(
            "config", default_value=PathJoinSubstitution([share, "config", "semcomm.yaml"]),
            description="ROS 2 parameter file for all semcomm nodes"),
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2"),
        DeclareLaunchArgument(
            "record", default_value="",
            description="record the outputs into this new MCAP bag folder (empty: no recording)"),
        Node(package="semcomm_ros", executable="link_monitor_node",
             name="semcomm_link_monitor", namespace="", parameters=[config], output="screen"),
        Node(package="semcomm_ros", executable="decoder_node", name="semcomm_decoder",
             namespace="", parameters=[config], output="screen"),
        Node(package="semcomm_ros", executable="recorder_node", name="semcomm_recorder",
             namespace="", parameters=[config, {"path": LaunchConfiguration("record")}],
             output="screen",
             condition=IfCondition(NotEqualsSubstitution(LaunchConfiguration("record"), ""))),
        Node(package="rviz2", executable="rviz2", name="rviz2",
             arguments=["-d", PathJoinSubstitution([share, "rviz", "semcomm.rviz"])],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
