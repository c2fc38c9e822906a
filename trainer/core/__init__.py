"""Torch-free foundations: the trial's config, the one registry mechanism, errors, atomic writes."""
