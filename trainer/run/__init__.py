"""Running trials: the one loop over K members, feed, step plan, packing rules, the trial CLI and the checks of a config before it trains."""
