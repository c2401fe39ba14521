"""The platform settings the job protocol runs under (leases, retries, URL expiry, output caps),
filled from the service's configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """Platform settings the job protocol needs."""

    lease_seconds: int = 60
    max_attempts: int = 3
    unclaimed_timeout: int = 600
    url_expiry: int = 3600
    max_output_bytes: int = 512 * 1024 * 1024
    max_log_bytes: int = 4 * 1024 * 1024
    #: a submission's upload link is dead after ``url_expiry``; the submission is then abandoned
    #: and gives its quota slot back (plus a grace for an upload still streaming at expiry)
    abandoned_upload_timeout: int = 3600 + 300
    #: a worker seen within this many leases is alive (busy workers heartbeat every third of one)
    worker_alive_leases: int = 3
