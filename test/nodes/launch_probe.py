"""Which nodes a launch file would start, and how (run in the ROS tool venv by the tests).

``python launch_probe.py FILE.launch.py [name:=value ...]`` runs the launch file in a
LaunchService with the process start under ``launch_ros.actions.Node.execute`` replaced:
each node whose condition holds is recorded (package, executable, node name, its command line
after launch_ros's substitutions, the contents of the parameter files it gets) instead of
started. Prints one JSON list.
"""
import json
import sys

import yaml
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.utilities import perform_substitutions
from launch_ros.actions import Node

from launch import LaunchDescription, LaunchService

started = []


def record(self, context):
    """Stand-in for ExecuteProcess.execute under Node.execute: record, start nothing."""
    if not isinstance(self, Node):
        raise RuntimeError(f"{self!r}: the launch files start ROS nodes only")
    cmd = [perform_substitutions(context, part) for part in self.cmd[1:]]
    params = []
    for i, arg in enumerate(cmd[:-1]):
        if arg == "--params-file":
            with open(cmd[i + 1]) as f:
                params.append({"path": cmd[i + 1], "content": yaml.safe_load(f)})
    started.append({"package": self.node_package, "executable": self.node_executable,
                    "name": self.node_name, "cmd": cmd, "params": params})


def main() -> None:
    """Probe the launch file named on the command line."""
    path, args = sys.argv[1], [a.split(":=", 1) for a in sys.argv[2:]]
    base = next(c for c in Node.__mro__[1:] if "execute" in vars(c))  # what Node calls
    base.execute = record
    service = LaunchService()
    service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(path), launch_arguments=args)]))
    rc = service.run()
    print(json.dumps(started))
    sys.exit(rc)


if __name__ == "__main__":
    main()
