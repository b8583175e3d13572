"""Both sides on one machine: robot.launch.py + base_station.launch.py.

ros2 launch semcomm_ros semcomm.launch.py source:=/path/to/bag [rviz:=true] [config:=...]
                                          [camera:=/my/camera/image_raw] [record:=/path/out_bag]
"""
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    share = FindPackageShare("semcomm_ros")
    config = LaunchConfiguration("config")
    args = {"config": config}
    return LaunchDescription([
        DeclareLaunchArgument(
            "config", default_value=PathJoinSubstitution([share, "config", "semcomm.yaml"]),
            description="ROS 2 parameter file for all semcomm nodes"),
        DeclareLaunchArgument("source", default_value="",
                              description="bag / video / folder to play as the camera"),
        DeclareLaunchArgument("camera", default_value="/camera/image_raw",
                              description="camera image topic (remaps /camera/image_raw)"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info",
                              description="CameraInfo topic (remaps /camera/camera_info)"),
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2"),
        DeclareLaunchArgument("record", default_value="",
                              description="record the outputs into this new MCAP bag folder"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch",
                                                                "robot.launch.py"])),
            launch_arguments={**args, "source": LaunchConfiguration("source"),
                              "camera": LaunchConfiguration("camera"),
                              "camera_info": LaunchConfiguration("camera_info")}.items()),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch",
                                                                "base_station.launch.py"])),
            launch_arguments={**args, "rviz": LaunchConfiguration("rviz"),
                              "record": LaunchConfiguration("record")}.items()),
    ])
