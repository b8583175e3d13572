"""Publishers, subscriptions and timers made from a configuration, remade when it changes.

A node builds its ROS entities through a :class:`Wiring`; when a live parameter
change touches topics, QoS or rates, the node calls :meth:`Wiring.clear` and
builds them again from the new configuration, so ``ros2 param set`` on a topic
or QoS parameter takes effect instead of being silently ignored.
"""
from __future__ import annotations

from rclpy.node import Node


class Wiring:
    """Remembers what it created on ``node`` so that it can destroy it all at once."""

    def __init__(self, node: Node) -> None:
        """Nothing created yet."""
        self.node = node
        self._publishers: list = []
        self._subscriptions: list = []
        self._timers: list = []

    def publisher(self, msg_type, topic: str, qos):
        """``create_publisher``, remembered."""
        pub = self.node.create_publisher(msg_type, topic, qos)
        self._publishers.append(pub)
        return pub

    def subscription(self, msg_type, topic: str, callback, qos):
        """``create_subscription``, remembered."""
        sub = self.node.create_subscription(msg_type, topic, callback, qos)
        self._subscriptions.append(sub)
        return sub

    def timer(self, period_s: float, callback):
        """``create_timer``, remembered."""
        timer = self.node.create_timer(period_s, callback)
        self._timers.append(timer)
        return timer

    def clear(self) -> None:
        """Destroy every entity made so far."""
        for pub in self._publishers:
            self.node.destroy_publisher(pub)
        for sub in self._subscriptions:
            self.node.destroy_subscription(sub)
        for timer in self._timers:
            timer.cancel()
            self.node.destroy_timer(timer)
        self._publishers, self._subscriptions, self._timers = [], [], []
