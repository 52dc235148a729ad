"""PD-FGC losses (docs/MODEL.md): contrastive, pose, decorrelation, perceptual, adversarial, motion."""
