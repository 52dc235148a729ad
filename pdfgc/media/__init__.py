"""Media I/O shared by preprocessing, labelling, synthesis and evaluation.

Probe and decode video with ffmpeg, read audio into per-frame log-mel features, track faces
and align them to the release's 224 crop.
"""
