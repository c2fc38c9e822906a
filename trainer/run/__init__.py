"""Running trials: the one loop over K members, feed, step plan, packing rules, trial CLI."""
