"""Signed URLs are credentials: they never appear in a failure reason, a log line a participant
sees, or a page. Both the worker (before it reports) and the service (before it stores a reason
from a worker) pass text through ``without_urls``."""

from __future__ import annotations

import re

PLACEHOLDER = "<link removed>"

# any absolute URL, and any path whose query carries a signature (local, S3 and Azure styles),
# as a requests error quotes it ("Max retries exceeded with url: /storage/...?...&sig=...")
_LINKS = re.compile(
    r"[a-z][a-z0-9+.-]*://[^\s'\"<>)]+"
    r"|[^\s'\"<>(]*\?[^\s'\"<>)]*\b(?:sig|signature|x-amz-signature|x-amz-credential|sv|se|sp)=[^\s'\"<>)]*",
    re.IGNORECASE,
)


def without_urls(text: str) -> str:
    """``text`` with every URL and every signed query replaced by a placeholder."""
    return _LINKS.sub(PLACEHOLDER, text)
