"""Licensed label backends behind the ``FaceLandmarker`` / ``Labeler`` interfaces.

None of them is needed by default. Each checks for its package and files when built and raises
``MissingWeightsError`` naming what is missing and where to get it.
"""
