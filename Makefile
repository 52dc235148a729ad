# The README's two commands: `make demo` and `make test`. Both set up a fresh machine first.
SHELL := /bin/bash
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export WDS_SECURE := 1

.PHONY: setup demo test unit e2e

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/pdfgc demo --workdir demo-work

test: setup
	.venv/bin/python -m pytest tests/unit -q
	.venv/bin/python -m pytest tests/e2e -q -m e2e
