"""Node and link health as diagnostic_msgs/DiagnosticArray (what rqt_robot_monitor shows).

No diagnostic_updater wheel exists for the pip environment, so each node keeps a
small :class:`Health` record and publishes it on a timer with :func:`to_array`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)


@dataclass
class Health:
    """One component's status: level, one-line message, key/value details."""

    name: str
    hardware_id: str = "semcomm"
    level: bytes = OK
    message: str = "ok"
    values: dict[str, str] = field(default_factory=dict)

    def set(self, level: bytes, message: str, **values) -> None:
        """Replace level, message and values (values are formatted as text)."""
        self.level, self.message = level, message
        self.values = {k: _text(v) for k, v in values.items()}


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def to_array(stamp, items: list[Health]) -> DiagnosticArray:
    """A DiagnosticArray stamped ``stamp`` holding every Health record."""
    msg = DiagnosticArray(header=Header(stamp=stamp))
    for h in items:
        msg.status.append(DiagnosticStatus(
            level=h.level, name=h.name, message=h.message, hardware_id=h.hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in h.values.items()]))
    return msg
