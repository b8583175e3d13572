"""Thin rclpy adapters around the ROS-free libraries: parameters in, messages out."""
