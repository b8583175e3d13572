"""Where the package's data folders are: the source tree, or the ament share directory.

Run from a clone (``pip install -e .``, ``make``), ``config/``, ``models/``, ``launch/``
and ``rviz/`` sit beside the ``semcomm_ros/`` package folder, next to ``package.xml``.
Installed by ``colcon build`` (CMakeLists.txt), the Python package is under
``lib/python3.X/site-packages`` and those folders under ``share/semcomm_ros``, found through
the ament index (``get_package_share_directory``), as any ROS 2 package finds its data.

No ROS import at module level: ``ament_index_python`` is only imported for an install.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = "semcomm_ros"
_ROOT = Path(__file__).resolve().parent.parent


def source_tree() -> Path | None:
    """The clone this package runs from, or None when it runs from an install."""
    if (_ROOT / "package.xml").is_file() and (_ROOT / "config").is_dir():
        return _ROOT
    return None


def share_dir() -> Path:
    """The folder holding ``config/ models/ launch/ rviz/``.

    The source tree when running from a clone; else ``share/semcomm_ros`` of the install
    found on ``AMENT_PREFIX_PATH``; else (neither: e.g. a plain ``pip install .``) the folder
    above the package, so that error messages name the path that was looked for.
    """
    tree = source_tree()
    if tree is not None:
        return tree
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return _ROOT
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, LookupError):
        return _ROOT


SHARE = share_dir()
