"""The in-process simulator: a channel only."""
