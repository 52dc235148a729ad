"""Telemetry off for every engine the project starts, in one place.

MLflow honours ``DO_NOT_TRACK`` only when it is ``true``; Prefect needs its own switch.
"""

from __future__ import annotations

import os

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def quiet_telemetry(env: dict[str, str] | None = None) -> None:
    """Set the telemetry switches in ``env`` (default: this process) where the user has not."""
    target = os.environ if env is None else env
    for key, value in TELEMETRY_OFF.items():
        target.setdefault(key, value)
