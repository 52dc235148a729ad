"""Evaluation of trained models: metrics on real and generated frames."""
