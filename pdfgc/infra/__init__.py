"""Cluster launch files rendered from the config (``pdfgc infra render``)."""
