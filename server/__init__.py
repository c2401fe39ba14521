"""Podium service: the Tornado application that owns the platform's state."""
