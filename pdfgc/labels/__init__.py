"""Per-frame labels: face landmarks, head pose, eye state and expression (see docs/LABELS.md).

Build backends with ``pdfgc.labels.registry``; the interfaces are in ``pdfgc.labels.base``.
"""
