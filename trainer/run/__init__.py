"""The loop over K members, its schedule and feed, and the trial CLI."""
