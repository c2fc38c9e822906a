"""fewpair analysis."""
