"""The training step: one Step per variant (paper, fused over K members; released; pix2pix), losses, pools, state, checkpoints."""
