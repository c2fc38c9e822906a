"""The training step over an explicit state, and its checkpoints."""
