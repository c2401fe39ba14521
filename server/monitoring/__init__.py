"""Watching the service run: Prometheus metrics, the health probe, and their HTTP handlers."""
