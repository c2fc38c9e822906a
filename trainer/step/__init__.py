"""The training step: one Step per variant, losses, image pools, lr rule, state, checkpoints."""
