"""Leaderboards: ranking as pure functions (``ranking``), kept in the database (``store``), read fast (``reads``)."""
