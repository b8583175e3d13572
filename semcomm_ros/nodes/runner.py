"""The one ``main()`` every node shares: init, construct, spin, shut down cleanly."""
from __future__ import annotations

import signal

import rclpy
from rclpy.executors import ExternalShutdownException


def run_node(node_cls: type, args: list[str] | None = None,
             fatal: tuple[type[Exception], ...] = ()) -> None:
    """Spin one node until Ctrl-C or shutdown.

    Exceptions in ``fatal`` raised while constructing the node (a missing
    source, say) are logged as one fatal line and exit with status 2.
    """
    rclpy.init(args=args)
    try:
        node = node_cls()
    except fatal as exc:
        rclpy.logging.get_logger(node_cls.__name__).fatal(str(exc))
        rclpy.try_shutdown()
        raise SystemExit(2) from exc
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # Ctrl-C (ros2 launch sends SIGINT) shuts the context down at once; a callback that
        # was running then fails to publish (RCLError: context is invalid). That is a stop,
        # not a crash; any other error while the context is up still is one.
        if rclpy.ok():
            raise
    finally:
        # A second Ctrl-C must not cut the clean-up short: a terminal signals the whole
        # process group, and ros2 launch then signals each node again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        node.destroy_node()
        rclpy.try_shutdown()
