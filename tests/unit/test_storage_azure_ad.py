"""The Azure backend with Azure AD, on Azurite over HTTPS with ``--oauth basic``: the service's own
calls carry a bearer token, and every URL it hands out is a user-delegation SAS that Azurite itself
verifies (GET, PUT, Put Block), refusing a tampered one, an expired one, and one whose delegation
key has expired. The full storage contract runs on this variant too (test_storage_contract.py,
``azure_ad``). No Azure AD runs here: the token is the test's, and Azurite checks its issuer,
audience and lifetime, not its signature (BlobTokenAuthenticator.authenticateBasic in Azurite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from helpers.emulators import Emulator, EmulatorTokenCredential
from podium.server.errors import StorageMisconfigured
from podium.server.storage.azure import TOKEN_SCOPE, AzureConfig, AzureStorage
from podium.server.storage.base import MIN_PART_SIZE, PartPlan


def token_from(issuer: str) -> EmulatorTokenCredential:
    """The emulator's token with another issuer (one Azurite does not accept)."""
    token = EmulatorTokenCredential()
    token.issuer = issuer
    return token


def make(emulator: Emulator, container: str, token: object | None = None, **settings: object) -> AzureStorage:
    config = AzureConfig(container=container, credential="azure_ad", account_url=emulator.settings["account_url"],
                         **settings)
    return AzureStorage(config, token=token or EmulatorTokenCredential())


@pytest.fixture
def storage(azurite_oauth: Emulator) -> Iterator[AzureStorage]:
    storage = make(azurite_oauth, f"podium-{uuid.uuid4().hex[:12]}", key_prefix="inst")
    storage.container.create_container()
    storage.check()
    yield storage
    storage.container.delete_container()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    pairs = [(k, changes.get(k, v)) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def test_urls_are_user_delegation_sas_for_the_token_identity(storage: AzureStorage) -> None:
    token = storage.service.credential
    storage.put("a/x", b"data")
    fields = query(storage.signed_url("a/x", "GET", expires_in=300, filename="x.csv"))
    assert fields["skoid"] == token.oid and fields["sktid"] == token.tid
    assert fields["sks"] == "b" and fields["skv"] and fields["skt"] and fields["ske"]
    assert fields["sp"] == "r" and fields["sr"] == "b"
    ske = datetime.fromisoformat(fields["ske"].replace("Z", "+00:00"))
    se = datetime.fromisoformat(fields["se"].replace("Z", "+00:00"))
    assert se <= ske  # a URL never outlives the key that signed it
    assert (TOKEN_SCOPE,) in token.scopes  # the service's own calls: a bearer token


def test_get_put_and_blocks_are_accepted_by_azurite(storage: AzureStorage) -> None:
    put = storage.signed_url("up/obj", "PUT", expires_in=60)
    assert requests.put(put, data=b"hello", headers=storage.upload_headers(), timeout=30).status_code == 201
    got = requests.get(storage.signed_url("up/obj", "GET", expires_in=60, filename="obj.txt"), timeout=30)
    assert got.status_code == 200 and got.content == b"hello"
    assert "obj.txt" in got.headers["Content-Disposition"]

    data = b"p" * MIN_PART_SIZE + b"q" * 10
    plan = PartPlan.for_size(len(data), MIN_PART_SIZE)
    storage.start_parts("big/obj")
    for number in (1, 2):
        start = (number - 1) * plan.part_size
        url = storage.part_url("big/obj", number, plan.size_of(number), expires_in=60)
        assert "skoid=" in url
        answer = requests.put(url, data=data[start:start + plan.size_of(number)], headers=storage.part_headers(), timeout=30)
        assert answer.status_code == 201, answer.text
    storage.complete_parts("big/obj", plan)
    assert storage.open("big/obj").read() == data


@pytest.mark.parametrize("field", ["skoid", "sktid", "ske", "skv", "sp", "se"])
def test_a_tampered_user_delegation_sas_is_refused_by_azurite(storage: AzureStorage, field: str) -> None:
    storage.put("t/x", b"secret")
    url = storage.signed_url("t/x", "GET", expires_in=300)
    assert requests.get(url, timeout=30).status_code == 200
    value = query(url)[field]
    changed = {
        "skoid": "00000000-0000-0000-0000-000000000000",
        "sktid": "00000000-0000-0000-0000-000000000000",
        "ske": (datetime.now(timezone.utc) + timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "skv": "2020-02-10",
        "sp": "rw",
        "se": (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }[field]
    assert changed != value
    assert requests.get(with_query(url, **{field: changed}), timeout=30).status_code == 403


def test_a_sas_whose_delegation_key_expired_is_refused_by_azurite(storage: AzureStorage) -> None:
    """Why the service renews its key before a URL could outlive it: Azurite (like Azure) refuses a
    SAS once its key's ``ske`` has passed, whatever the SAS's own expiry says."""
    import time

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    storage.put("k/x", b"data")
    now = datetime.now(timezone.utc)
    short_key = storage.service.get_user_delegation_key(now - timedelta(minutes=1), now + timedelta(seconds=2))
    blob = storage._blob("k/x")
    sas = generate_blob_sas(storage.account_name, storage.config.container, blob, user_delegation_key=short_key,
                            permission=BlobSasPermissions(read=True), expiry=now + timedelta(hours=1))
    url = f"{storage.container.get_blob_client(blob).url}?{sas}"
    assert requests.get(url, timeout=30).status_code == 200
    time.sleep(3.5)
    assert requests.get(url, timeout=30).status_code == 403


def test_the_delegation_key_is_asked_for_once_and_renewed_before_a_url_outlives_it(storage: AzureStorage) -> None:
    asked = []
    real = storage.service.get_user_delegation_key

    def counted(start, expiry, **kwargs):
        asked.append(expiry)
        return real(start, expiry, **kwargs)

    storage.service.get_user_delegation_key = counted
    storage.delegation._key = None  # as if the service had just started
    storage.put("r/x", b"data")
    for _ in range(3):
        assert requests.get(storage.signed_url("r/x", "GET", expires_in=60), timeout=30).status_code == 200
    assert len(asked) == 1  # cached: one key for many URLs
    # a URL longer than the cached key's remaining life gets a fresh key that covers it
    storage.delegation.lifetime = timedelta(seconds=600)
    storage.delegation._expires = datetime.now(timezone.utc) + timedelta(seconds=300)
    url = storage.signed_url("r/x", "GET", expires_in=3600)
    assert len(asked) == 2 and requests.get(url, timeout=30).status_code == 200
    fields = query(url)
    assert datetime.fromisoformat(fields["ske"].replace("Z", "+00:00")) >= datetime.fromisoformat(
        fields["se"].replace("Z", "+00:00"))
    with pytest.raises(ValueError, match="7 days"):
        storage.signed_url("r/x", "GET", expires_in=8 * 24 * 3600)


def test_a_refused_token_at_startup_names_the_identity(azurite_oauth: Emulator) -> None:
    storage = make(azurite_oauth, "nowhere", token=token_from("https://login.example.org/"))
    with pytest.raises(StorageMisconfigured, match=r"refused the Azure AD token \(AuthenticationFailed\): .*AzureConfig.tenant_id"):
        storage.check()


def test_an_expired_token_is_refused_by_azurite_and_named(azurite_oauth: Emulator) -> None:
    token = EmulatorTokenCredential()
    token.lifetime = -60
    with pytest.raises(StorageMisconfigured, match=r"refused the Azure AD token \(AuthenticationFailed\)"):
        make(azurite_oauth, "nowhere", token=token).check()


class NoIdentity(EmulatorTokenCredential):
    """What azure-identity raises where it finds no identity (no managed identity, no environment)."""

    def get_token(self, *scopes: str, **kwargs: object):
        from azure.identity import CredentialUnavailableError

        raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token from the "
                                         "included credentials.\nAttempted credentials:\n\tEnvironmentCredential: ...")


def test_no_identity_at_startup_is_one_sentence_naming_the_settings(azurite_oauth: Emulator) -> None:
    with pytest.raises(StorageMisconfigured) as refused:
        make(azurite_oauth, "nowhere", token=NoIdentity()).check()
    message = str(refused.value)
    assert message.startswith("No Azure AD token could be obtained for https://127.0.0.1:")
    assert "DefaultAzureCredential failed to retrieve a token from the included credentials)" in message
    assert "AzureConfig.tenant_id" in message and "\n" not in message


def test_a_missing_container_is_named(azurite_oauth: Emulator) -> None:
    with pytest.raises(StorageMisconfigured, match="container 'no-such-container' does not exist"):
        make(azurite_oauth, "no-such-container").check()


def test_azure_ad_settings_that_cannot_work_name_the_setting(azurite_oauth: Emulator) -> None:
    with pytest.raises(StorageMisconfigured, match="AzureConfig.account_url"):
        AzureStorage(AzureConfig(container="c", credential="azure_ad", connection_string=""))
    with pytest.raises(StorageMisconfigured, match="not https"):
        AzureStorage(AzureConfig(container="c", credential="azure_ad",
                                 account_url=azurite_oauth.settings["account_url"].replace("https", "http")))
    with pytest.raises(StorageMisconfigured, match="tenant_id and AzureConfig.client_id"):
        AzureStorage(AzureConfig(container="c", credential="azure_ad", account_url=azurite_oauth.settings["account_url"],
                                 client_secret="s3cret"))


def test_credential_settings_pick_the_azure_identity_credential(azurite_oauth: Emulator) -> None:
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    url = azurite_oauth.settings["account_url"]
    inferred = AzureStorage(AzureConfig(container="c", account_url=url, connection_string=""))
    assert inferred.mode == "azure_ad" and isinstance(inferred.service.credential, DefaultAzureCredential)
    principal = AzureStorage(AzureConfig(container="c", account_url=url, credential="azure_ad", tenant_id="t",
                                         client_id="00000000-0000-0000-0000-00000000000c", client_secret="s"))
    assert isinstance(principal.service.credential, ClientSecretCredential)
    keyed = AzureStorage(AzureConfig(container="c", connection_string=azurite_oauth.settings["connection_string"]))
    assert keyed.mode == "account_key" and keyed.delegation is None and "skoid" not in keyed.signed_url("x", "GET", 60)


def test_environment_variables_configure_azure_ad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_AZURE_CREDENTIAL", "azure_ad")
    monkeypatch.setenv("PODIUM_AZURE_TENANT_ID", "tenant")
    monkeypatch.setenv("PODIUM_AZURE_CLIENT_ID", "client")
    monkeypatch.setenv("PODIUM_AZURE_CLIENT_SECRET", "secret")
    config = AzureConfig()
    assert (config.credential, config.tenant_id, config.client_id, config.client_secret) == (
        "azure_ad", "tenant", "client", "secret")
