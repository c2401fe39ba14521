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


def _wait(emulator: Emulator, probe: str, timeout: float) -> Emulator:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            break
        try:
            requests.get(probe, timeout=1)
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
