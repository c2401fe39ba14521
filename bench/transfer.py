"""B10: a 1 GB file up and down through Podium's signed URLs, beside the storage's own client.

    .venv/bin/python bench/transfer.py [--size-mb 1024] [--backends s3,azure,local]

For each backend the real stack runs (PostgreSQL, RabbitMQ, JupyterHub, the service as its own
process; LocalStack S3 or Azurite started on loopback). Podium's path is the one the widgets and
``podium submit`` take: announce, parts in parallel to signed URLs, complete, confirm (which reads
the object back for its sha256), and a download in parallel byte ranges from a signed GET URL.
The floor is the same transfer with boto3 / azure-storage-blob straight to the emulator (the same
part size and parallelism), in the same run. The service's CPU time is read from /proc before
and after. The file lives in a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.emulators import start_azurite, start_s3  # noqa: E402
from loop import cpu_seconds  # noqa: E402
from podium.widgets.client import PodiumClient  # noqa: E402
from podium.widgets.part_upload import download_in_parts, upload_in_parts  # noqa: E402
from stack import Platform, scratch, write_result  # noqa: E402

MIB = 1024 * 1024
PART = 16 * MIB
PARALLEL = 4


def make_file(folder: Path, size: int) -> tuple[Path, str]:
    path, digest = folder / "big.bin", hashlib.sha256()
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for i in range(size // MIB):
            chunk = block[i % 251:] + block[:i % 251]  # not one repeated block, without urandom's cost
            f.write(chunk)
            digest.update(chunk)
    return path, digest.hexdigest()


def storage_env(backend: str, workdir: Path) -> tuple[dict[str, str], Any, Any]:
    """The service's environment for ``backend``, the running emulator, and the direct client."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    if backend == "local":
        return {}, None, None
    if backend == "s3":
        emulator = start_s3(workdir)
        import boto3

        s = emulator.settings
        client = boto3.client("s3", endpoint_url=s["endpoint_url"], region_name="us-east-1",
                              aws_access_key_id=s["access_key_id"], aws_secret_access_key=s["secret_access_key"])
        client.create_bucket(Bucket=name)
        env = {"PODIUM_STORAGE": "s3", "PODIUM_S3_BUCKET": name, "PODIUM_S3_ENDPOINT_URL": s["endpoint_url"],
               "PODIUM_S3_ACCESS_KEY_ID": s["access_key_id"], "PODIUM_S3_SECRET_ACCESS_KEY": s["secret_access_key"]}
        return env, emulator, (client, name)
    emulator = start_azurite(workdir)
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(emulator.settings["connection_string"],
                                                       max_block_size=PART, max_single_put_size=PART,
                                                       max_chunk_get_size=PART, max_single_get_size=PART)
    container = service.create_container(name)
    env = {"PODIUM_STORAGE": "azure", "PODIUM_AZURE_CONNECTION_STRING": emulator.settings["connection_string"],
           "PODIUM_AZURE_CONTAINER": name}
    return env, emulator, (container, name)


def direct_upload(backend: str, direct: Any, path: Path) -> None:
    if backend == "s3":
        from boto3.s3.transfer import TransferConfig

        client, bucket = direct
        client.upload_file(str(path), bucket, "direct/big.bin",
                           Config=TransferConfig(multipart_chunksize=PART, max_concurrency=PARALLEL))
    else:
        container, _ = direct
        with open(path, "rb") as f:
            container.upload_blob("direct/big.bin", f, overwrite=True, max_concurrency=PARALLEL)


def direct_download(backend: str, direct: Any, target: Path) -> None:
    if backend == "s3":
        from boto3.s3.transfer import TransferConfig

        client, bucket = direct
        client.download_file(bucket, "direct/big.bin", str(target),
                             Config=TransferConfig(multipart_chunksize=PART, max_concurrency=PARALLEL))
    else:
        container, _ = direct
        with open(target, "wb") as f:
            container.download_blob("direct/big.bin", max_concurrency=PARALLEL).readinto(f)


def run_backend(backend: str, size: int, folder: Path, path: Path, sha: str) -> list[dict[str, Any]]:
    workdir = scratch()
    env, emulator, direct = storage_env(backend, workdir)
    platform = Platform(workdir, extra_env=env, extra_args=(
        f"--PodiumService.max_upload_size={2 * size}", f"--PodiumService.upload_part_size={PART}"))
    rows: list[dict[str, Any]] = []
    try:
        platform.start()
        organizer = platform.user(f"bench-{uuid.uuid4().hex[:6]}", groups=("creators",))
        token = organizer.headers["Authorization"].split()[1]
        client = PodiumClient(url=platform.url, token=token, timeout=600)
        pid = platform.service.pid

        announced = client.post("datasets", {"kind": "input_data", "name": "big.bin", "size": size, "sha256": sha})
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        upload_in_parts(client, f"datasets/{announced['id']}/upload", path, parallel=PARALLEL)
        t1, cpu1 = time.perf_counter(), cpu_seconds(pid)
        ready = client.post(f"datasets/{announced['id']}/uploaded")
        t2, cpu2 = time.perf_counter(), cpu_seconds(pid)
        assert ready["state"] == "ready"
        url = client.get(f"datasets/{announced['id']}")["download_url"]
        cpu3, t3 = cpu_seconds(pid), time.perf_counter()
        download_in_parts(url if url.startswith("http") else platform.url + url.lstrip("/"), size,
                          folder / "down.bin", part_size=PART, parallel=PARALLEL, timeout=600)
        t4, cpu4 = time.perf_counter(), cpu_seconds(pid)
        (folder / "down.bin").unlink()
        gb = size / 1e9
        up, confirm, down = t1 - t0, t2 - t1, t4 - t3
        floor_up = floor_down = None
        if direct is not None:
            s0 = time.perf_counter()
            direct_upload(backend, direct, path)
            s1 = time.perf_counter()
            direct_download(backend, direct, folder / "direct.bin")
            s2 = time.perf_counter()
            (folder / "direct.bin").unlink()
            floor_up, floor_down = s1 - s0, s2 - s1
        tool = {"s3": "boto3", "azure": "azure-storage-blob", "local": "–"}[backend]
        rows += [
            {"id": "B10", "backend": backend, "what": f"upload {size // MIB} MiB in parts via signed URLs (MB/s)",
             "value": size / MIB / up, "floor": size / MIB / floor_up if floor_up else None, "floor_tool": tool,
             "target": "≥ 0.8 × direct"},
            {"id": "B10", "backend": backend, "what": "download in parallel ranges via a signed URL (MB/s)",
             "value": size / MIB / down, "floor": size / MIB / floor_down if floor_down else None, "floor_tool": tool,
             "target": "≥ 0.8 × direct"},
            {"id": "B10", "backend": backend, "what": "confirm (the service reads the object back for its sha256), s",
             "value": confirm, "floor": None, "target": "–"},
            {"id": "B10", "backend": backend, "what": "service CPU s per GB uploaded (parts + complete)",
             "value": (cpu1 - cpu0) / gb, "floor": None, "target": "near zero with S3/Azure"},
            {"id": "B10", "backend": backend, "what": "service CPU s per GB confirmed (sha256 read-back)",
             "value": (cpu2 - cpu1) / gb, "floor": None, "target": "–"},
            {"id": "B10", "backend": backend, "what": "service CPU s per GB downloaded",
             "value": (cpu4 - cpu3) / gb, "floor": None, "target": "near zero with S3/Azure"},
        ]
    finally:
        platform.stop()
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--backends", default="s3,azure,local")
    args = parser.parse_args()
    size = args.size_mb * MIB
    folder = Path(scratch())
    rows: list[dict[str, Any]] = []
    try:
        path, sha = make_file(folder, size)
        for backend in args.backends.split(","):
            rows += run_backend(backend, size, folder, path, sha)
            print_rows(rows[-6:])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    write_result("B10", {"measured": datetime.now().isoformat(timespec="seconds"), "host": os.uname().nodename,
                        "cores": os.cpu_count(), "size": size, "rows": rows})
    print_rows(rows)


def print_rows(rows: list[dict[str, Any]]) -> None:
    print("| backend | what | value | direct (floor) | ratio | target |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        floor = f"{r['floor']:.1f} ({r['floor_tool']})" if r.get("floor") else "–"
        ratio = f"{r['value'] / r['floor']:.2f}" if r.get("floor") else "–"
        print(f"| {r['backend']} | {r['what']} | {r['value']:.2f} | {floor} | {ratio} | {r['target']} |", flush=True)


if __name__ == "__main__":
    main()
