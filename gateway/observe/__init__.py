"""Metrics, live log, request log, log format, probes and task runs."""
