"""Prefect flows: thin orchestration around the pdfgc library.

Importing this package quiets telemetry and gives Prefect's ephemeral API more time to start
on a loaded 2-core machine; every value can be overridden from the environment.
"""

import os

from pdfgc.telemetry import quiet_telemetry

quiet_telemetry()
for _key, _value in {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "WDS_SECURE": "1",
}.items():
    os.environ.setdefault(_key, _value)
