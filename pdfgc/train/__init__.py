"""Progressive PD-FGC training: stage tasks, the generic loop, checkpoints and the launcher."""
