"""The request line: front door, admission, attempts, relay job, settlement hand-off."""
