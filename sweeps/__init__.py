"""fewpair sweeps."""
