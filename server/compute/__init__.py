"""Compute: attempts and their leases (``attempts``), publishing to the broker (``dispatch``), queues and worker tokens (``queues``)."""
