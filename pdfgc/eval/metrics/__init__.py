"""Metric functions on arrays, one concept per module: image, perceptual, identity, lips,
pose, eyes, expression, crosstalk, lse (the sync expert's scores). Each docstring gives the
metric's definition."""
