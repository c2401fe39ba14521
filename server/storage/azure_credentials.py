"""Azure AD for the Azure backend: the token credential the settings name, and the user-delegation
key that signs every SAS, asked for once and renewed before a URL could outlive it.

A user-delegation SAS is only as good as the key that signed it, so a key is kept while it still
covers the longest URL asked for (plus a margin for clock skew) and replaced otherwise.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import StorageMisconfigured

#: a key is renewed when it would expire within a URL's lifetime plus this margin
RENEW_MARGIN = timedelta(minutes=5)
#: start times are set this far back: the storage's clock may be a little behind ours
CLOCK_SKEW = timedelta(minutes=1)
#: the longest a delegation key may live (Azure refuses more)
KEY_LIFETIME_MAX = timedelta(days=7)


def token_credential(config: Any) -> Any:
    """The azure-identity credential the settings name: a service principal with its secret, or
    DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI)."""
    try:
        from azure.identity import ClientSecretCredential, DefaultAzureCredential
    except ImportError:
        raise StorageMisconfigured(
            "AzureConfig.credential is azure_ad but azure-identity is not installed: install "
            "jupyter-podium[server]."
        ) from None
    if config.client_secret:
        if not (config.tenant_id and config.client_id):
            raise StorageMisconfigured(
                "AzureConfig.client_secret is set without AzureConfig.tenant_id and AzureConfig.client_id: "
                "a service principal needs all three."
            )
        return ClientSecretCredential(config.tenant_id, config.client_id, config.client_secret)
    if config.client_id:
        return DefaultAzureCredential(
            managed_identity_client_id=config.client_id, workload_identity_client_id=config.client_id
        )
    return DefaultAzureCredential()


class DelegationKeys:
    """One cached user-delegation key per service, renewed before it would expire under a URL."""

    def __init__(self, service: Any, lifetime_seconds: int) -> None:
        self.service = service
        self.lifetime = min(timedelta(seconds=lifetime_seconds), KEY_LIFETIME_MAX)
        self._key: Any = None
        self._expires: datetime | None = None
        self._lock = threading.Lock()

    def key_for(self, expires_in: int) -> Any:
        """A key valid at least ``expires_in`` seconds from now (a URL's lifetime)."""
        now = datetime.now(timezone.utc)
        needed = now + timedelta(seconds=expires_in) + RENEW_MARGIN
        if needed - now > KEY_LIFETIME_MAX:
            raise ValueError(f"A user-delegation SAS cannot live {expires_in} s: Azure allows 7 days.")
        with self._lock:
            if self._key is None or self._expires is None or self._expires < needed:
                expiry = min(max(now + self.lifetime, needed), now + KEY_LIFETIME_MAX)
                self._key = self.service.get_user_delegation_key(now - CLOCK_SKEW, expiry)
                self._expires = expiry
            return self._key
