"""Failure notification for scheduled runs: a flow ``on_failure`` hook that POSTs one JSON
message to ``retrain.notify_webhook`` of the run's config (Slack-style ``text`` plus the
details). A failing webhook is logged, never raised: the run has already failed."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from pdfgc.config import load_config

_logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 10
ALLOWED_SCHEMES = ("http://", "https://")


def failure_message(flow_name: str, flow_run: Any, state: Any) -> dict[str, Any]:
    return {
        "text": f"pdfgc: flow run {flow_run.name} of {flow_name} ended {state.name}: {state.message or ''}".strip(),
        "flow": flow_name, "flow_run_id": str(flow_run.id), "flow_run_name": flow_run.name,
        "deployment_id": str(flow_run.deployment_id) if flow_run.deployment_id else None,
        "state": state.name, "message": state.message,
    }


def post_json(url: str, payload: dict[str, Any]) -> int:
    if not url.startswith(ALLOWED_SCHEMES):
        raise ValueError(f"webhook URL must be http(s): {url!r}")
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310 - scheme checked
        return response.status


def webhook_of(parameters: dict[str, Any]) -> str | None:
    """The webhook URL of the config a flow run was started with (None when unset or unreadable)."""
    try:
        return load_config(parameters.get("config", "paper"), parameters.get("overrides")).retrain.notify_webhook
    except Exception as exc:  # noqa: BLE001 - a broken config is often why the run failed
        _logger.warning("no failure notification: cannot read the run's config (%s)", exc)
        return None


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on_failure hook."""
    url = webhook_of(dict(flow_run.parameters or {}))
    if not url:
        return
    try:
        status = post_json(url, failure_message(flow.name, flow_run, state))
        _logger.info("failure of %s notified to %s (HTTP %d)", flow_run.name, url, status)
    except Exception as exc:  # noqa: BLE001 - never mask the run's own failure
        _logger.warning("failure notification to %s failed: %s", url, exc)
