"""Forward the ROS-free libraries' Python log records to a node's logger (and so to /rosout).

The codec, reconstruction and link libraries log with the standard ``logging``
module (``semcomm_ros.*`` loggers) because they do not import ROS. A node calls
:func:`bridge_library_logs` right after ``Node.__init__`` so that what those
libraries say while the node builds them (the detector falling back, say) and
later reaches the node's rclpy logger: the console, the log files and /rosout.
"""
from __future__ import annotations

import logging

LIBRARY_LOGGER = "semcomm_ros"


class RclpyLogHandler(logging.Handler):
    """A logging handler that re-emits records through an rclpy logger."""

    def __init__(self, ros_logger, level: int = logging.INFO) -> None:
        """``ros_logger``: ``node.get_logger()``."""
        super().__init__(level)
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        """Map the level and send ``[library logger] message``."""
        try:
            text = f"[{record.name}] {record.getMessage()}"
            if record.levelno >= logging.ERROR:
                self.ros_logger.error(text)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(text)
            elif record.levelno >= logging.INFO:
                self.ros_logger.info(text)
            else:
                self.ros_logger.debug(text)
        except Exception:  # noqa: BLE001 - logging must never take the node down
            self.handleError(record)


def bridge_library_logs(node, level: int = logging.INFO) -> RclpyLogHandler:
    """Attach a handler for ``semcomm_ros.*`` records to ``node``'s logger; returns it.

    Replaces a handler installed earlier in the same process (one node per
    process is the norm; a second call moves the bridge to the newer node).
    """
    lib = logging.getLogger(LIBRARY_LOGGER)
    for old in [h for h in lib.handlers if isinstance(h, RclpyLogHandler)]:
        lib.removeHandler(old)
    handler = RclpyLogHandler(node.get_logger(), level)
    lib.addHandler(handler)
    if lib.level == logging.NOTSET or lib.level > level:
        lib.setLevel(level)
    lib.propagate = False  # the rclpy logger prints it already
    return handler
