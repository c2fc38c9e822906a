"""The Ray launch: Tuner, trainables, progress, tracking (the only modules that import Ray)."""
