"""Running trials: one loop over K members, the feed, the step plan, packing rules and the trial CLI."""
