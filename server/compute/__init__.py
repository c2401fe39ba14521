"""Compute: attempts and their leases (``attempts``), what a claim answers (``job_spec``), expired
leases and unclaimed work (``reaper``), the transactional outbox (``outbox``) and publishing it to
the broker (``dispatch``), queues and worker tokens (``queues``), the settings they run under
(``limits``). The messages exchanged with workers are ``podium.worker.protocol``'s."""
