"""semcomm_ros: semantic, bandwidth-aware image transport for ROS 2.

The rosidl-generated messages live in ``semcomm_ros.msg``. In a native
colcon install they sit inside this package's folder; in the pip
environment they are installed by CMake into the venv's site-packages while
the Python code is an editable install, so the package's search path is
extended to find both halves (docs/packaging.md).
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
