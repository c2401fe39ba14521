"""Objects in an S3 bucket (AWS or any S3-compatible server), reached by clients through presigned URLs.

The service never carries an upload's or a download's bytes: it signs a URL for one method on one
key with a short expiry, and for uploads of an announced size it signs the ``Content-Length`` too,
so the storage server itself refuses a body of any other size. Only ``stat`` (the checksum at
finalize) reads an object back, in chunks.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from traitlets import Bool, Unicode, default
from traitlets.config import Configurable

from ..errors import ObjectNotFound, StorageError, StorageMisconfigured
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


def _env(name: str) -> str:
    import os

    return os.environ.get(name, "")


class S3Config(Configurable):
    """Where the S3 backend keeps objects (``c.S3Config.<option>``; each has an environment variable)."""

    bucket = Unicode(help="Bucket holding every object. Required. Default: $PODIUM_S3_BUCKET.").tag(config=True)

    @default("bucket")
    def _bucket_default(self) -> str:
        return _env("PODIUM_S3_BUCKET")

    endpoint_url = Unicode(
        help="URL of an S3-compatible server (e.g. http://127.0.0.1:9000). Empty means AWS itself. "
        "Clients and workers must reach this URL too, since signed URLs point at it. "
        "Default: $PODIUM_S3_ENDPOINT_URL."
    ).tag(config=True)

    @default("endpoint_url")
    def _endpoint_url_default(self) -> str:
        return _env("PODIUM_S3_ENDPOINT_URL")

    region = Unicode(
        help="Region of the bucket, which signatures name. Default: $PODIUM_S3_REGION, else "
        "$AWS_DEFAULT_REGION, else us-east-1."
    ).tag(config=True)

    @default("region")
    def _region_default(self) -> str:
        return _env("PODIUM_S3_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1"

    path_style = Bool(
        help="Address the bucket in the URL path (http://host/bucket/key) instead of the host name "
        "(http://bucket.host/key); most S3-compatible servers need it. Default: true when "
        "endpoint_url is set ($PODIUM_S3_PATH_STYLE=0 or 1 overrides)."
    ).tag(config=True)

    @default("path_style")
    def _path_style_default(self) -> bool:
        if _env("PODIUM_S3_PATH_STYLE"):
            return _env("PODIUM_S3_PATH_STYLE") not in ("0", "false", "no")
        return bool(self.endpoint_url)

    key_prefix = Unicode(
        help="Prefix put before every object key (e.g. podium/), so one bucket can hold several "
        "installations. Default: $PODIUM_S3_KEY_PREFIX, else none."
    ).tag(config=True)

    @default("key_prefix")
    def _key_prefix_default(self) -> str:
        return _env("PODIUM_S3_KEY_PREFIX")

    access_key_id = Unicode(
        help="Access key id. Empty uses boto3's usual chain (AWS_ACCESS_KEY_ID, ~/.aws, an "
        "instance or pod role). Default: $PODIUM_S3_ACCESS_KEY_ID."
    ).tag(config=True)

    @default("access_key_id")
    def _access_key_id_default(self) -> str:
        return _env("PODIUM_S3_ACCESS_KEY_ID")

    secret_access_key = Unicode(
        help="Secret access key that goes with access_key_id. Default: $PODIUM_S3_SECRET_ACCESS_KEY."
    ).tag(config=True)

    @default("secret_access_key")
    def _secret_access_key_default(self) -> str:
        return _env("PODIUM_S3_SECRET_ACCESS_KEY")


class S3Storage(Storage):
    """Objects under ``key_prefix`` in one bucket; clients get SigV4-presigned URLs."""

    def __init__(self, config: S3Config) -> None:
        import boto3
        from botocore.config import Config

        if not config.bucket:
            raise StorageMisconfigured("No S3 bucket is set: set S3Config.bucket (or $PODIUM_S3_BUCKET).")
        if bool(config.access_key_id) != bool(config.secret_access_key):
            raise StorageMisconfigured(
                "S3Config.access_key_id and S3Config.secret_access_key must be set together "
                "(or neither, to use boto3's usual credential chain)."
            )
        self.config = config
        self.digests = RememberedDigests()
        self._upload_ids: dict[str, str] = {}  # key -> its open multipart upload (a cache of S3's list)
        self._upload_ids_lock = threading.Lock()
        self.bucket = config.bucket
        self.prefix = config.key_prefix.strip("/") + "/" if config.key_prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            region_name=config.region,
            aws_access_key_id=config.access_key_id or None,
            aws_secret_access_key=config.secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if config.path_style else "auto"},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 2},
            ),
        )

    @classmethod
    def from_config(cls, parent: Any) -> S3Storage:
        return cls(S3Config(parent=parent))

    def check(self) -> None:
        """Raise StorageMisconfigured, naming the setting, unless the bucket answers."""
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        where = self.config.endpoint_url or "AWS"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise StorageMisconfigured(
                "No S3 credentials were found: set S3Config.access_key_id and S3Config.secret_access_key "
                "(or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or give the host a role)."
            ) from None
        except EndpointConnectionError:
            raise StorageMisconfigured(
                f"The S3 endpoint {where} cannot be reached: check S3Config.endpoint_url."
            ) from None
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket"):
                raise StorageMisconfigured(
                    f"The S3 bucket {self.bucket!r} does not exist at {where}: check S3Config.bucket."
                ) from None
            raise StorageMisconfigured(
                f"The S3 bucket {self.bucket!r} at {where} refused access ({code}): check "
                "S3Config.access_key_id, S3Config.secret_access_key and the bucket's policy."
            ) from None

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        digest, size = hashlib.sha256(), 0
        with tempfile.TemporaryFile() as spool:
            if isinstance(data, bytes | bytearray | memoryview):
                data = bytes(data)
                digest.update(data)
                size = len(data)
                spool.write(data)
            else:
                while chunk := data.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
            spool.seek(0)
            self.client.upload_fileobj(spool, self.bucket, self._key(key))
        return ObjectInfo(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound() from None
            raise StorageError() from None

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and sha256, read back in chunks; a digest read before (e.g. in a thread, so the
        event loop does not wait for a large object) is reused while the object's ETag is the same."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError() from None
        body, etag = response["Body"], response.get("ETag", "")
        with body:
            remembered = self.digests.get(key, etag)
            if remembered is not None:
                return remembered
            info = hash_stream(key, body)
        self.digests.put(key, etag, info)
        return info

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix.rstrip("/")) + "/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def signed_url(
        self,
        key: str,
        method: Method,
        expires_in: int,
        max_size: int | None = None,
        filename: str | None = None,
        exact_size: int | None = None,
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if method == "GET":
            if filename:
                params["ResponseContentDisposition"] = content_disposition(filename)
            operation = "get_object"
        elif method == "PUT":
            if exact_size is not None:
                # signed, so the server refuses any body of another length
                params["ContentLength"] = int(exact_size)
            operation = "put_object"
        else:
            raise ValueError(f"Storage URLs are signed for GET or PUT, not {method!r}.")
        return self.client.generate_presigned_url(operation, Params=params, ExpiresIn=int(expires_in))

    # --- uploads in parts: an S3 multipart upload, parts presigned with their Content-Length -----

    def _open_uploads(self, key: str) -> list[dict[str, Any]]:
        """The multipart uploads open for exactly ``key``, oldest first."""
        full = self._key(key)
        paginator = self.client.get_paginator("list_multipart_uploads")
        uploads = [u for page in paginator.paginate(Bucket=self.bucket, Prefix=full)
                   for u in page.get("Uploads", []) if u["Key"] == full]
        return sorted(uploads, key=lambda u: u["Initiated"])

    def _upload_id(self, key: str, create: bool = False) -> str | None:
        with self._upload_ids_lock:
            if key in self._upload_ids:
                return self._upload_ids[key]
        uploads = self._open_uploads(key)
        if uploads:
            upload_id = uploads[0]["UploadId"]  # two racing starts: everyone settles on the oldest
        elif create:
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))["UploadId"]
        else:
            return None
        with self._upload_ids_lock:
            self._upload_ids[key] = upload_id
        return upload_id

    def start_parts(self, key: str) -> None:
        self._upload_id(key, create=True)

    def part_url(self, key: str, number: int, size: int, expires_in: int) -> str:
        upload_id = self._upload_id(key, create=True)
        params = {"Bucket": self.bucket, "Key": self._key(key), "UploadId": upload_id,
                  "PartNumber": int(number), "ContentLength": int(size)}  # a signed length: S3 refuses any other
        return self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=int(expires_in))

    def _parts(self, key: str) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        upload_id = self._upload_id(key)
        if upload_id is None:
            return []
        paginator = self.client.get_paginator("list_parts")
        try:
            return [p for page in paginator.paginate(Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
                    for p in page.get("Parts", [])]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchUpload":
                with self._upload_ids_lock:
                    self._upload_ids.pop(key, None)
                return []
            raise StorageError() from None

    def arrived_parts(self, key: str) -> dict[int, int]:
        return {int(p["PartNumber"]): int(p["Size"]) for p in self._parts(key)}

    def complete_parts(self, key: str, plan: PartPlan) -> None:
        parts = {int(p["PartNumber"]): p for p in self._parts(key)}
        plan.check_arrived({n: int(p["Size"]) for n, p in parts.items()})
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self._key(key), UploadId=self._upload_id(key),
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]["ETag"]} for n in range(1, plan.count + 1)]},
        )
        with self._upload_ids_lock:
            self._upload_ids.pop(key, None)

    def abort_parts(self, key: str) -> None:
        from botocore.exceptions import ClientError

        with self._upload_ids_lock:
            self._upload_ids.pop(key, None)
        for upload in self._open_uploads(key):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise StorageError() from None

    def abandoned_part_uploads(self, older_than: float) -> list[str]:
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than)
        paginator = self.client.get_paginator("list_multipart_uploads")
        keys = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff and upload["Key"].startswith(self.prefix):
                    keys.append(upload["Key"][len(self.prefix):])
        return sorted(set(keys))
