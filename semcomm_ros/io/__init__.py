"""Reading and writing camera frames: videos, image folders, rosbag2 bags (no ROS inside)."""
