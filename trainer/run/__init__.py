"""The trial run: its loop, schedule, feed, the trial CLI and the checks of a config before it trains."""
