"""Metric functions, each applied alike to real and generated frames."""
