"""Object-storage emulators the tests start themselves on loopback: Azurite (npm) and an S3 server
that verifies SigV4 signatures (LocalStack's S3, from PyPI, in its own virtualenv).

Both are installed by ``scripts/ensure-storage-emulators.sh`` (run by ``scripts/bootstrap.sh``);
each ``start_*`` returns a running server and its settings, and ``stop()`` ends the process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / ".cache/node/node_modules/.bin/azurite-blob"
LOCALSTACK_PYTHON = ROOT / ".cache/localstack-venv/bin/python"
#: Azurite's well-known development account (public, documented by Microsoft)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: the credentials LocalStack signs and verifies with
S3_ACCESS_KEY = "test"
S3_SECRET_KEY = "test"


class EmulatorFailed(RuntimeError):
    """An emulator did not start; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emulator:
    """A running emulator process and what clients need to reach it."""

    process: subprocess.Popen
    url: str
    log: Path
    settings: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait(emulator: Emulator, probe: str, timeout: float, verify: bool | str = True) -> Emulator:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            break
        try:
            requests.get(probe, timeout=1, verify=verify)
            return emulator
        except requests.ConnectionError:
            time.sleep(0.3)
    emulator.stop()
    raise EmulatorFailed(f"{probe} did not answer in {timeout}s:\n{emulator.log.read_text()[-3000:]}")


def start_azurite(workdir: Path) -> Emulator:
    """Azurite's blob service on a free loopback port, data kept in memory."""
    if not AZURITE.exists():
        raise EmulatorFailed(f"{AZURITE} is missing: run scripts/ensure-storage-emulators.sh")
    port = free_port()
    log = workdir / "azurite.log"
    process = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent"],
        cwd=workdir, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={url};"
    )
    emulator = Emulator(process, url, log, {"connection_string": connection_string, "account_url": url,
                                              "account_key": AZURITE_KEY})
    return _wait(emulator, url, 60)


def start_azurite_oauth(workdir: Path) -> Emulator:
    """Azurite over HTTPS with ``--oauth basic``: it accepts bearer tokens it can parse (issuer,
    audience and lifetime checked, not the signature), hands out user-delegation keys and
    verifies user-delegation SAS. Its certificate is made here; ``settings["ca_file"]`` trusts it."""
    if not AZURITE.exists():
        raise EmulatorFailed(f"{AZURITE} is missing: run scripts/ensure-storage-emulators.sh")
    cert, key = self_signed_certificate(workdir)
    port = free_port()
    log = workdir / "azurite-oauth.log"
    process = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent", "--oauth", "basic",
         "--cert", str(cert), "--key", str(key)],
        cwd=workdir, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"https://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    connection_string = (
        f"DefaultEndpointsProtocol=https;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={url};"
    )
    emulator = Emulator(process, url, log, {"account_url": url, "ca_file": str(cert),
                                              "connection_string": connection_string})
    return _wait(emulator, url, 60, verify=str(cert))


def self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files (what Azurite needs for HTTPS)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "azurite-cert.pem", workdir / "azurite-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class EmulatorTokenCredential:
    """An azure-core TokenCredential for Azurite's ``--oauth basic``: a JWT with the claims Azurite
    reads (issuer, audience, lifetime, oid, tid). No Azure AD runs here, and Azurite does not check
    the token's signature, so it is signed with a throwaway HMAC key."""

    def __init__(self, oid: str = "5b1a63b4-8b4e-4a50-9d5c-3f6f1f0f9e01",
                 tid: str = "72f988bf-86f1-41af-91ab-2d7cd011db47") -> None:
        self.oid, self.tid = oid, tid
        self.issuer = f"https://sts.windows.net/{tid}/"
        self.lifetime = 3600  # seconds; negative for a token that has already expired
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object):
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": self.issuer,
                  "iat": now - 120, "nbf": now - 120, "exp": now + self.lifetime, "oid": self.oid,
                  "tid": self.tid}
        return AccessToken(_jwt(claims), now + self.lifetime)


def _jwt(claims: dict) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + part(json.dumps(claims).encode())
    return head + "." + part(hmac.new(b"no-azure-ad-here", head.encode(), hashlib.sha256).digest())


def start_s3(workdir: Path) -> Emulator:
    """LocalStack's S3 on a free loopback port, with signature and expiry checks switched on."""
    if not LOCALSTACK_PYTHON.exists():
        raise EmulatorFailed(f"{LOCALSTACK_PYTHON} is missing: run scripts/ensure-storage-emulators.sh")
    port = free_port()
    log = workdir / "s3.log"
    env = {
        **os.environ,
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "SERVICES": "s3",
        "S3_SKIP_SIGNATURE_VALIDATION": "0",
        "PERSISTENCE": "0",
        "LOCALSTACK_VOLUME_DIR": str(workdir / "volume"),
        "FILESYSTEM_ROOT": str(workdir / "fs"),
        "DISABLE_EVENTS": "1",
        "EAGER_SERVICE_LOADING": "1",
        "DNS_ADDRESS": "0",
    }
    process = subprocess.Popen(
        [str(LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"], cwd=workdir, env=env,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    emulator = Emulator(process, url, log, {"endpoint_url": url, "access_key_id": S3_ACCESS_KEY,
                                              "secret_access_key": S3_SECRET_KEY, "region": "us-east-1"})
    return _wait(emulator, f"{url}/_localstack/health", 120)
