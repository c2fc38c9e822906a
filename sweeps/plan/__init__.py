"""Planning a sweep without Ray: grids, grid files, --set/--seeds, packs, preflight, measured rates."""
