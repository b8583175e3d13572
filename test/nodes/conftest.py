"""Fixtures for tests that start nodes as separate processes over real DDS."""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import rclpy
from rclpy.node import Node


@pytest.fixture
def ros_node():
    """An rclpy node in this test process (the 'operator' side of the tests)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("semcomm_test_probe", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    node.spin_until = lambda cond, timeout: spin_until(executor, cond, timeout)
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def spin_until(executor, cond: Callable[[], bool], timeout: float) -> bool:
    """Spin until ``cond()`` or ``timeout`` seconds; returns ``cond()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        if cond():
            return True
    return cond()
