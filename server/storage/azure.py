"""Objects as block blobs in an Azure Storage container, reached by clients through SAS URLs.

The service signs a SAS for one blob, one permission (read, or create+write) and a short expiry;
it never carries the bytes. With an account key that is a service SAS; with Azure AD (a managed,
workload or service-principal identity) it is a user-delegation SAS, signed with a delegation key
the service asks for once and renews before it expires (``azure_credentials.py``). A SAS cannot
bind a length, so an upload's size (and sha256) is checked when it is confirmed, by reading the
blob back in chunks, and a mismatch deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO
from urllib.parse import quote

from traitlets import Enum, Int, Unicode, default
from traitlets.config import Configurable

from ..errors import ObjectNotFound, StorageMisconfigured
from .azure_credentials import DelegationKeys, token_credential
from .base import (
    Method,
    ObjectInfo,
    PartPlan,
    RememberedDigests,
    Storage,
    content_disposition,
    hash_stream,
    validate_key,
)

CHUNK = 1024 * 1024
#: what an Azure AD token for Blob storage is asked for
TOKEN_SCOPE = "https://storage.azure.com/.default"
#: a marker blob per upload in parts records when it started (``~`` is never in a key: no clash)
PARTS_MARKERS = "~uploads-in-parts/"


def block_id(number: int) -> str:
    """The block id of part ``number``: all of one length, as Azure requires within a blob."""
    return f"podium-part-{number:05d}"


class AzureConfig(Configurable):
    """Where the Azure backend keeps objects (``c.AzureConfig.<option>``; each has an environment variable)."""

    connection_string = Unicode(
        help="Storage account connection string (holds the account URL and key); either this or "
        "account_url with account_key. Default: $PODIUM_AZURE_CONNECTION_STRING, else "
        "$AZURE_STORAGE_CONNECTION_STRING."
    ).tag(config=True)

    @default("connection_string")
    def _connection_string_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_CONNECTION_STRING") or os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")

    account_url = Unicode(
        help="Blob service URL, e.g. https://<account>.blob.core.windows.net. Clients and workers "
        "must reach it, since SAS URLs point at it. Default: $PODIUM_AZURE_ACCOUNT_URL."
    ).tag(config=True)

    @default("account_url")
    def _account_url_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_ACCOUNT_URL", "")

    account_name = Unicode(
        help="Storage account name; default: taken from the connection string or account_url "
        "($PODIUM_AZURE_ACCOUNT_NAME)."
    ).tag(config=True)

    @default("account_name")
    def _account_name_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_ACCOUNT_NAME", "")

    account_key = Unicode(
        help="Storage account key, used to sign SAS URLs (with account_url). "
        "Default: $PODIUM_AZURE_ACCOUNT_KEY."
    ).tag(config=True)

    @default("account_key")
    def _account_key_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_ACCOUNT_KEY", "")

    credential = Enum(
        ["", "account_key", "azure_ad"],
        help="How the service authenticates and signs: account_key (a service SAS signed with the "
        "account key) or azure_ad (an Azure AD token for its own calls, and a user-delegation SAS "
        "for every URL it hands out; the identity needs the Storage Blob Data Contributor role, "
        "which includes generating the delegation key). Empty: account_key when a key is set (in "
        "the connection string or account_key), else azure_ad. Default: $PODIUM_AZURE_CREDENTIAL.",
    ).tag(config=True)

    @default("credential")
    def _credential_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_CREDENTIAL", "")

    tenant_id = Unicode(
        help="Azure AD tenant of the service principal (azure_ad with client_secret). "
        "Default: $PODIUM_AZURE_TENANT_ID."
    ).tag(config=True)

    @default("tenant_id")
    def _tenant_id_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_TENANT_ID", "")

    client_id = Unicode(
        help="Application (client) id: of the service principal with client_secret, or of a "
        "user-assigned managed identity without it. Empty: DefaultAzureCredential picks the "
        "identity (environment, workload identity, system-assigned managed identity, Azure CLI). "
        "Default: $PODIUM_AZURE_CLIENT_ID."
    ).tag(config=True)

    @default("client_id")
    def _client_id_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_CLIENT_ID", "")

    client_secret = Unicode(
        help="Client secret of the service principal (azure_ad, with tenant_id and client_id). "
        "Default: $PODIUM_AZURE_CLIENT_SECRET."
    ).tag(config=True)

    @default("client_secret")
    def _client_secret_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_CLIENT_SECRET", "")

    delegation_key_lifetime = Int(
        6 * 3600,
        min=600,
        max=7 * 24 * 3600,
        help="Seconds a user-delegation key (azure_ad) is asked for; it is renewed before a URL "
        "would outlive it, and a URL never outlives the key that signed it (Azure allows 7 days).",
    ).tag(config=True)

    container = Unicode(
        help="Container holding every object. Required. Default: $PODIUM_AZURE_CONTAINER."
    ).tag(config=True)

    @default("container")
    def _container_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_CONTAINER", "")

    key_prefix = Unicode(
        help="Prefix put before every blob name (e.g. podium/), so one container can hold several "
        "installations. Default: $PODIUM_AZURE_KEY_PREFIX, else none."
    ).tag(config=True)

    @default("key_prefix")
    def _key_prefix_default(self) -> str:
        return os.environ.get("PODIUM_AZURE_KEY_PREFIX", "")


class AzureStorage(Storage):
    """Objects under ``key_prefix`` in one container; clients get SAS URLs (service SAS with an
    account key, user-delegation SAS with Azure AD)."""

    def __init__(self, config: AzureConfig, token: Any = None) -> None:
        """``token``: an azure-core TokenCredential to use instead of the one the settings name
        (azure_ad only; what a host that already holds one, or a test, passes)."""
        from azure.storage.blob import BlobServiceClient

        if not config.container:
            raise StorageMisconfigured("No Azure container is set: set AzureConfig.container (or $PODIUM_AZURE_CONTAINER).")
        self.config = config
        self.digests = RememberedDigests()
        self.mode = config.credential or _inferred_credential(config, token)
        self.delegation: DelegationKeys | None = None
        try:
            if self.mode == "azure_ad":
                if not config.account_url:
                    raise StorageMisconfigured(
                        "AzureConfig.credential is azure_ad but no account URL is set: set "
                        "AzureConfig.account_url (https://<account>.blob.core.windows.net)."
                    )
                if not config.account_url.lower().startswith("https://"):
                    raise StorageMisconfigured(
                        "AzureConfig.credential is azure_ad but AzureConfig.account_url is not https: "
                        "Azure AD tokens are only sent over TLS."
                    )
                credential = token if token is not None else token_credential(config)
                self.service = BlobServiceClient(config.account_url, credential=credential)
                self.delegation = DelegationKeys(self.service, config.delegation_key_lifetime)
            elif config.connection_string:
                self.service = BlobServiceClient.from_connection_string(config.connection_string)
            elif config.account_url and config.account_key:
                name = config.account_name or _account_from_url(config.account_url)
                self.service = BlobServiceClient(
                    config.account_url, credential={"account_name": name, "account_key": config.account_key}
                )
            else:
                raise StorageMisconfigured(
                    "No Azure credentials are set: set AzureConfig.connection_string, or "
                    "AzureConfig.account_url with AzureConfig.account_key, or AzureConfig.account_url "
                    "with AzureConfig.credential = 'azure_ad'."
                )
        except ValueError as e:
            raise StorageMisconfigured(
                f"AzureConfig.connection_string or AzureConfig.account_url is not usable: {e}"
            ) from None
        credential = self.service.credential
        self.account_name = (
            config.account_name or getattr(credential, "account_name", "") or self.service.account_name or ""
        )
        self.account_key = None if self.delegation else getattr(credential, "account_key", None) or config.account_key
        if not self.delegation and not self.account_key:
            raise StorageMisconfigured(
                "No Azure account key is set to sign SAS URLs: set AzureConfig.account_key or a "
                "connection string with an AccountKey, or AzureConfig.credential = 'azure_ad'."
            )
        self.container = self.service.get_container_client(config.container)
        self.prefix = config.key_prefix.strip("/") + "/" if config.key_prefix.strip("/") else ""

    @classmethod
    def from_config(cls, parent: Any) -> AzureStorage:
        return cls(AzureConfig(parent=parent))

    def check(self) -> None:
        """Raise StorageMisconfigured, naming the setting, unless the container answers."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )

        where = self.service.url
        try:
            if self.delegation:  # once, directly: through the storage client it would be retried
                self.service.credential.get_token(TOKEN_SCOPE)
            exists = self.container.exists(timeout=10)
        except ServiceRequestError:
            raise StorageMisconfigured(
                f"The Azure blob service at {where} cannot be reached: check AzureConfig.account_url "
                "or AzureConfig.connection_string."
            ) from None
        except (ClientAuthenticationError, HttpResponseError) as e:
            if isinstance(e, ClientAuthenticationError) and e.response is None:
                raise self._no_token(where, e) from None  # the storage was never asked
            raise StorageMisconfigured(
                f"The Azure blob service at {where} refused the {self._credential_named()} "
                f"({_error_code(e)}): {self._credential_settings()}."
            ) from None
        if not exists:
            raise StorageMisconfigured(
                f"The Azure container {self.config.container!r} does not exist at {where}: check AzureConfig.container."
            )
        if self.delegation:
            try:
                self.delegation.key_for(60)
            except (ClientAuthenticationError, HttpResponseError) as e:
                raise StorageMisconfigured(
                    f"The Azure blob service at {where} gives the Azure AD identity no user-delegation key "
                    f"({_error_code(e)}): grant it the "
                    "Storage Blob Data Contributor (or Storage Blob Delegator) role on the storage account."
                ) from None

    def _no_token(self, where: str, error: Exception) -> StorageMisconfigured:
        """No answer from the storage: azure-identity found no identity, or Azure AD said no."""
        return StorageMisconfigured(
            f"No Azure AD token could be obtained for {where} ({_first_line(error)}): set AzureConfig.tenant_id, "
            "client_id and client_secret, or run where a managed or workload identity is available."
        )

    def _credential_named(self) -> str:
        return "Azure AD token" if self.delegation else "account key"

    def _credential_settings(self) -> str:
        if self.delegation:
            return ("check the identity (AzureConfig.tenant_id, client_id, client_secret, or the managed "
                    "identity) and its role on the storage account")
        return "check AzureConfig.account_key or AzureConfig.connection_string"

    def _blob(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def upload_headers(self) -> dict[str, str]:
        return {"x-ms-blob-type": "BlockBlob"}

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        digest, size = hashlib.sha256(), 0

        def chunks():
            nonlocal size
            if isinstance(data, bytes | bytearray | memoryview):
                digest.update(data)
                size = len(data)
                yield bytes(data)
                return
            while chunk := data.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        self.container.upload_blob(self._blob(key), chunks(), overwrite=True)
        return ObjectInfo(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.download_blob(self._blob(key))
        except ResourceNotFoundError:
            raise ObjectNotFound() from None
        return _DownloadReader(downloader.chunks())

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and sha256, read back in chunks; a digest read before is reused while the blob's
        ETag is the same (see ``S3Storage.stat``)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.download_blob(self._blob(key))
        except ResourceNotFoundError:
            return None
        etag = downloader.properties.etag or ""
        remembered = self.digests.get(key, etag)
        if remembered is not None:
            return remembered
        with _DownloadReader(downloader.chunks()) as body:
            info = hash_stream(key, body)
        self.digests.put(key, etag, info)
        return info

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container.delete_blob(self._blob(key))
        except ResourceNotFoundError:
            pass  # already gone: deletes are retried

    def delete_prefix(self, prefix: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        for blob in self.container.list_blobs(name_starts_with=self._blob(prefix.rstrip("/")) + "/"):
            try:
                self.container.delete_blob(blob.name)
            except ResourceNotFoundError:
                pass

    def signed_url(
        self,
        key: str,
        method: Method,
        expires_in: int,
        max_size: int | None = None,
        filename: str | None = None,
        exact_size: int | None = None,
    ) -> str:
        from azure.storage.blob import BlobSasPermissions

        if method == "GET":
            permission = BlobSasPermissions(read=True)
        elif method == "PUT":
            permission = BlobSasPermissions(create=True, write=True)
        else:
            raise ValueError(f"Storage URLs are signed for GET or PUT, not {method!r}.")
        blob = self._blob(key)
        disposition = content_disposition(filename) if method == "GET" and filename else None
        return f"{self.container.get_blob_client(blob).url}?{self._sas(blob, permission, expires_in, disposition)}"

    def _sas(self, blob: str, permission: Any, expires_in: int, disposition: str | None = None) -> str:
        """A SAS for one blob and one permission: a service SAS signed with the account key, or a
        user-delegation SAS signed with a delegation key that outlives it (azure_ad)."""
        from azure.storage.blob import generate_blob_sas

        now = datetime.now(timezone.utc)
        if self.delegation:
            signing = {"user_delegation_key": self.delegation.key_for(int(expires_in))}
        else:
            signing = {"account_key": self.account_key}
        return generate_blob_sas(
            account_name=self.account_name,
            container_name=self.config.container,
            blob_name=blob,
            **signing,
            permission=permission,
            start=now - timedelta(minutes=1),  # the storage's clock may be a little behind ours
            expiry=now + timedelta(seconds=int(expires_in)),
            content_disposition=disposition,
        )

    # --- uploads in parts: uncommitted blocks, committed by Put Block List -----------------------
    # A SAS cannot bind a body's length, so a block's size is checked before the list is
    # committed (``complete_parts``); see docs/explanation/security.md.

    def _marker(self, key: str) -> str:
        return self.prefix + PARTS_MARKERS + validate_key(key)

    def start_parts(self, key: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.container.upload_blob(self._marker(key), b"", overwrite=False)
        except ResourceExistsError:
            pass  # already open

    def part_url(self, key: str, number: int, size: int, expires_in: int) -> str:
        from azure.storage.blob import BlobSasPermissions

        blob = self._blob(key)
        # Put Block needs write; reading is not granted
        sas = self._sas(blob, BlobSasPermissions(write=True), expires_in)
        encoded = base64.b64encode(block_id(number).encode()).decode()
        return f"{self.container.get_blob_client(blob).url}?{sas}&comp=block&blockid={quote(encoded, safe='')}"

    def _uncommitted(self, key: str) -> dict[str, int]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            _, uncommitted = self.container.get_blob_client(self._blob(key)).get_block_list("uncommitted")
        except ResourceNotFoundError:
            return {}
        return {block.id: block.size for block in uncommitted}

    def arrived_parts(self, key: str) -> dict[int, int]:
        arrived = {}
        for name, size in self._uncommitted(key).items():
            if name.startswith("podium-part-") and name[12:].isdigit():
                arrived[int(name[12:])] = size
        return arrived

    def complete_parts(self, key: str, plan: PartPlan) -> None:
        from azure.storage.blob import BlobBlock

        plan.check_arrived(self.arrived_parts(key))  # the size bound a SAS could not carry
        blocks = [BlobBlock(block_id=block_id(n)) for n in range(1, plan.count + 1)]
        self.container.get_blob_client(self._blob(key)).commit_block_list(blocks)
        self._drop_marker(key)

    def _drop_marker(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container.delete_blob(self._marker(key))
        except ResourceNotFoundError:
            pass

    def abort_parts(self, key: str) -> None:
        """Azure has no call that drops uncommitted blocks, but committing a block list discards
        every block not in it: with no committed blob there, an empty list is committed and the
        empty blob deleted. A committed blob is left as it is: its uncommitted blocks then wait
        for Azure's own garbage collection (a week after the last Put Block)."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.container.get_blob_client(self._blob(key))
        if self._uncommitted(key):
            try:
                blob.get_blob_properties()
            except ResourceNotFoundError:
                blob.commit_block_list([])
                try:
                    blob.delete_blob()
                except ResourceNotFoundError:
                    pass
        self._drop_marker(key)

    def abandoned_part_uploads(self, older_than: float) -> list[str]:
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than)
        start = self.prefix + PARTS_MARKERS
        return sorted(
            blob.name[len(start):]
            for blob in self.container.list_blobs(name_starts_with=start)
            if blob.last_modified < cutoff
        )


def _error_code(error: Exception) -> str:
    """Azure's error code as it names it (AuthenticationFailed), else the HTTP status."""
    code = getattr(error, "error_code", None)
    return str(getattr(code, "value", code) or getattr(error, "status_code", None) or error)


def _first_line(error: Exception) -> str:
    """The first line of an error (azure-identity's messages list every credential it tried)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")


def _inferred_credential(config: AzureConfig, token: Any) -> str:
    """account_key where a key is set (or no URL to reach Azure AD with), else azure_ad."""
    if token is not None:
        return "azure_ad"
    has_key = config.account_key or "accountkey=" in config.connection_string.lower()
    return "azure_ad" if config.account_url and not has_key and not config.connection_string else "account_key"


def _account_from_url(url: str) -> str:
    """The account name in https://<account>.blob.core.windows.net or http://host:port/<account>."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    host = parsed.hostname or ""
    if host.endswith(".blob.core.windows.net"):
        return host.split(".", 1)[0]
    return parsed.path.strip("/").split("/", 1)[0]


class _DownloadReader:
    """A blob's chunks as a file-like reader (what ``Storage.open`` returns)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._chunks = iter(())

    def __enter__(self) -> _DownloadReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
