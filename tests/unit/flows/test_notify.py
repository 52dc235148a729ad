"""The failure webhook: a real HTTP server on 127.0.0.1 receives the JSON message of a failed run."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from flows.notify import notify_failure, post_json


class Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def webhook():
    Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def run(parameters: dict) -> tuple[SimpleNamespace, SimpleNamespace, SimpleNamespace]:
    flow = SimpleNamespace(name="retrain")
    flow_run = SimpleNamespace(id=uuid.uuid4(), name="brave-otter", deployment_id=None, parameters=parameters)
    state = SimpleNamespace(name="Failed", message="Flow run encountered an exception: InputError: x")
    return flow, flow_run, state


def test_failed_run_posts_its_message_to_the_configured_webhook(webhook):
    notify_failure(*run({"config": "tiny", "overrides": [f"retrain.notify_webhook={webhook}"]}))
    assert len(Recorder.received) == 1
    message = Recorder.received[0]
    assert message["flow"] == "retrain" and message["state"] == "Failed" and message["flow_run_name"] == "brave-otter"
    assert "InputError: x" in message["text"]


def test_no_webhook_configured_or_unreachable_never_raises(webhook):
    notify_failure(*run({"config": "tiny"}))
    notify_failure(*run({"config": "tiny", "overrides": ["retrain.notify_webhook=http://127.0.0.1:9/none"]}))
    notify_failure(*run({"config": "no-such-config.yaml"}))
    assert Recorder.received == []


def test_only_http_urls():
    with pytest.raises(ValueError, match="http"):
        post_json("file:///etc/passwd", {})
