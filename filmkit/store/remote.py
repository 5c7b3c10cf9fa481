"""A shared remote cache on S3 (or an S3-compatible store) beside the local store.

Layout: the remote mirrors ``.filmkit/`` under one key prefix of one bucket::

    <prefix>/objects/ab/cdef…        object bytes, key = sha256 of the bytes,
                                     with metadata ``x-amz-meta-sha256`` = the digest
    <prefix>/actions/ab/cdef….json   action key -> record (the same JSON as locally)

With ``prefix=""`` the keys start at ``objects/`` and ``actions/``.

Race freedom: every key is named after what it holds (an object after the
sha256 of its bytes, an action record after the action key, which is itself
a hash of everything that decides the action's outputs), so two writers of
the same key are writing the same thing. Every write is conditional
(``If-None-Match: *``, on a plain PUT and on the completion of a multipart
upload): the first writer creates the key, and any later or concurrent writer
gets ``412 PreconditionFailed`` (or ``409 ConditionalRequestConflict`` while
the first write is still in flight), which is reported as success ("already
there", ``False``; should that in-flight write fail after all, the key is
merely still missing and a later push fills it). Nothing is ever
overwritten, so a reader sees either no key or a complete one; a multipart
upload becomes visible only when it is completed, and a failed one is
aborted. Before uploading an object its file is hashed, so no writer
publishes bytes under a digest they do not have. A store that ignores
``If-None-Match`` would let a second writer replace a key with the very
same bytes: wasteful, not wrong.

Integrity: the remote is trusted for nothing. :meth:`RemoteCache.fetch_object`
streams the object into a scratch file inside the local store, hashes what
actually arrived and compares it with the digest it asked for (never with
the object's metadata). On a mismatch the download is deleted and
:class:`RemoteIntegrityError` names the digest and the key; only bytes that
hash right are published, by :meth:`ArtifactStore.put`, atomically and
read-only. An action record that is not valid JSON (or not a JSON object)
is treated as missing.

Credentials come only from the standard AWS chain (environment variables,
``~/.aws`` profiles, instance or container roles), never from a film's
configuration. Failures of the remote (no credentials, no bucket, access
denied, endpoint unreachable) raise :class:`RemoteError` saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filmkit.errors import StoreError
from filmkit.store.artifacts import ArtifactStore
from filmkit.store.files import CHUNK, hash_file

# Answers to a conditional write meaning "someone else created this key first".
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412"}
_NO_KEY = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
# S3 refuses multipart uploads of more than this many parts.
_MAX_PARTS = 10_000
_HEX64 = re.compile(r"[0-9a-f]{64}")


class RemoteError(StoreError):
    """The remote cache cannot be used; the message says why and what to do."""

    def __init__(self, message: str, *, bucket: str = "", key: str = "") -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key


class RemoteIntegrityError(RemoteError):
    """Bytes did not hash to the digest they were stored (or offered) under."""

    def __init__(self, message: str, *, digest: str = "", bucket: str = "", key: str = "") -> None:
        super().__init__(message, bucket=bucket, key=key)
        self.digest = digest


@dataclass(frozen=True)
class RemoteConfig:
    """Where the remote cache lives. Plain and picklable; holds no credentials."""

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None


class RemoteCache:
    """Objects and action records shared through an S3 bucket.

    A boto3 client is made on first use from the standard AWS chain, unless
    one is passed in (then the caller owns it and :meth:`close` leaves it
    open). One instance may be used from several threads.
    """

    def __init__(
        self,
        config: RemoteConfig,
        client: Any = None,
        *,
        multipart_threshold: int = 64 * 2**20,
        part_size: int = 16 * 2**20,
    ) -> None:
        if part_size < 1 or multipart_threshold < 0:
            raise ValueError("part_size must be positive and multipart_threshold not negative")
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix.strip("/")
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._bucket_checked = False

    # keys ------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts) if self.prefix else parts)

    def object_key(self, digest: str) -> str:
        """The S3 key of the object with ``digest``."""
        _check_hex(digest, "digest")
        return self._key("objects", digest[:2], digest[2:])

    def action_key(self, key: str) -> str:
        """The S3 key of the record of the action ``key``."""
        _check_hex(key, "action key")
        return self._key("actions", key[:2], f"{key[2:]}.json")

    # client ----------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The S3 client, made on first use from the standard AWS chain."""
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                with self._errors(""):
                    self._client = boto3.session.Session().client(
                        "s3",
                        region_name=self.config.region,
                        endpoint_url=self.config.endpoint_url,
                        config=Config(retries={"mode": "standard", "max_attempts": 5}),
                    )
            return self._client

    def close(self) -> None:
        """Close the client if this cache made it."""
        with self._lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None

    def __enter__(self) -> RemoteCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # objects ---------------------------------------------------------------

    def has_object(self, digest: str) -> bool:
        """Is the object with ``digest`` on the remote?"""
        key = self.object_key(digest)
        try:
            with self._errors(key):
                self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except _Missing:
            # A HEAD answer has no body, so a missing bucket looks like a missing key.
            self._check_bucket()
            return False

    def push_object(self, path: Path, digest: str) -> bool:
        """Upload the file at ``path`` as the object ``digest``.

        True when this call created it; False when it was already there (or
        another writer created it meanwhile). Never overwrites.
        """
        key = self.object_key(digest)
        if self.has_object(digest):
            return False
        actual = hash_file(path)
        if actual != digest:
            raise RemoteIntegrityError(
                f"remote cache: {path} hashes to {actual}, not {digest}; "
                f"refusing to push it to s3://{self.bucket}/{key}",
                digest=digest,
                bucket=self.bucket,
                key=key,
            )
        size = path.stat().st_size
        try:
            with self._errors(key):
                if size > self.multipart_threshold:
                    self._put_multipart(path, key, digest, size)
                else:
                    with open(path, "rb") as body:
                        self.client.put_object(
                            Bucket=self.bucket,
                            Key=key,
                            Body=body,
                            IfNoneMatch="*",
                            Metadata={"sha256": digest},
                        )
        except _LostRace:
            return False
        return True

    def _put_multipart(self, path: Path, key: str, digest: str, size: int) -> None:
        client = self.client
        part_size = max(self.part_size, -(-size // _MAX_PARTS))
        upload = client.create_multipart_upload(
            Bucket=self.bucket, Key=key, Metadata={"sha256": digest}, ChecksumAlgorithm="CRC32"
        )
        upload_id = upload["UploadId"]
        try:
            parts = []
            with open(path, "rb") as handle:
                number = 1
                while data := handle.read(part_size):
                    answer = client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumAlgorithm="CRC32",
                    )
                    part = {"PartNumber": number, "ETag": answer["ETag"]}
                    if "ChecksumCRC32" in answer:
                        part["ChecksumCRC32"] = answer["ChecksumCRC32"]
                    parts.append(part)
                    number += 1
            client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            # The first failure is the one worth reporting.
            with suppress(Exception):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def fetch_object(self, digest: str, store: ArtifactStore) -> bool:
        """Download the object ``digest`` into ``store``; False when the remote lacks it.

        The bytes are hashed as they arrive and published only if they hash
        to ``digest``; otherwise nothing is stored and
        :class:`RemoteIntegrityError` is raised.
        """
        key = self.object_key(digest)
        scratch = store.work_dir()
        try:
            target = scratch / "download"
            hasher = hashlib.sha256()
            try:
                with self._errors(key):
                    answer = self.client.get_object(Bucket=self.bucket, Key=key)
                    with closing(answer["Body"]) as body, open(target, "wb") as out:
                        for chunk in body.iter_chunks(CHUNK):
                            hasher.update(chunk)
                            out.write(chunk)
            except _Missing:
                return False
            actual = hasher.hexdigest()
            if actual != digest:
                target.unlink()
                raise RemoteIntegrityError(
                    f"remote cache: s3://{self.bucket}/{key} holds bytes hashing to {actual}, "
                    f"not {digest}; the download was discarded. Delete that key from the "
                    "bucket so a good copy can be pushed again",
                    digest=digest,
                    bucket=self.bucket,
                    key=key,
                )
            store.put(target)
            return True
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # action records --------------------------------------------------------

    def get_action(self, key: str) -> dict[str, Any] | None:
        """The record of action ``key``; None when missing or unreadable."""
        s3_key = self.action_key(key)
        try:
            with self._errors(s3_key):
                answer = self.client.get_object(Bucket=self.bucket, Key=s3_key)
                with closing(answer["Body"]) as body:
                    data = body.read()
        except _Missing:
            return None
        try:
            record = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return None
        return record if isinstance(record, dict) else None

    def push_action(self, key: str, record: dict[str, Any]) -> bool:
        """Publish an action record; True when created, False when one was there already."""
        s3_key = self.action_key(key)
        body = json.dumps(record, sort_keys=True, indent=1).encode("utf-8")
        try:
            with self._errors(s3_key):
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=s3_key,
                    Body=body,
                    IfNoneMatch="*",
                    ContentType="application/json",
                )
        except _LostRace:
            return False
        return True

    # errors ----------------------------------------------------------------

    def _check_bucket(self) -> None:
        """Once per cache: raise RemoteError if the bucket does not exist."""
        if self._bucket_checked:
            return
        from botocore.exceptions import ClientError

        try:
            with self._errors(""):
                try:
                    self.client.head_bucket(Bucket=self.bucket)
                except ClientError as exc:
                    # HeadBucket needs s3:ListBucket, which a cache user may lack;
                    # the bucket may well exist, so let the object calls speak.
                    if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 403:
                        raise
        except _Missing:
            raise self._no_bucket() from None
        self._bucket_checked = True

    def _no_bucket(self) -> RemoteError:
        where = f" at {self.config.endpoint_url}" if self.config.endpoint_url else ""
        return RemoteError(
            f"remote cache: bucket {self.bucket!r} does not exist{where}: create it "
            f"(e.g. `aws s3 mb s3://{self.bucket}`) or fix remote.bucket",
            bucket=self.bucket,
        )

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """Turn botocore failures into RemoteError (or _Missing / _LostRace)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )

        bucket = self.bucket
        where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise RemoteError(
                f"remote cache: no usable AWS credentials for bucket {bucket!r} ({exc}). "
                "Configure the standard AWS chain: AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY in the environment, a profile in ~/.aws/credentials "
                "(AWS_PROFILE), or an instance/container role. filmkit never reads "
                "credentials from the film's configuration",
                bucket=bucket,
                key=key,
            ) from None
        except NoRegionError:
            raise RemoteError(
                f"remote cache: no AWS region for bucket {bucket!r}: set remote.region, "
                "AWS_REGION, or region in ~/.aws/config",
                bucket=bucket,
                key=key,
            ) from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise RemoteError(
                f"remote cache: cannot reach the S3 endpoint for bucket {bucket!r} ({exc}). "
                "Check remote.endpoint_url (and AWS_ENDPOINT_URL), remote.region and the "
                "network connection",
                bucket=bucket,
                key=key,
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _LOST_RACE or status == 412:
                raise _LostRace from None
            if code == "NoSuchBucket":
                raise self._no_bucket() from None
            if code in _NO_KEY or (status == 404 and code != "NoSuchUpload"):
                raise _Missing from None
            if code in _BAD_CREDENTIALS:
                raise RemoteError(
                    f"remote cache: the S3 service at bucket {bucket!r} rejected the AWS "
                    f"credentials ({code}). Check the credentials the AWS chain finds "
                    "(environment, AWS_PROFILE, ~/.aws/credentials)",
                    bucket=bucket,
                    key=key,
                ) from None
            if code in _DENIED or status == 403:
                raise RemoteError(
                    f"remote cache: access denied to {where} ({code}). Grant the AWS "
                    "identity s3:GetObject, s3:PutObject and s3:ListBucket on bucket "
                    f"{bucket!r} (without s3:ListBucket, S3 answers 403 instead of 404 "
                    "for a missing key), or use other credentials",
                    bucket=bucket,
                    key=key,
                ) from None
            message = error.get("Message") or str(exc)
            raise RemoteError(
                f"remote cache: S3 failed on {where}: {code or status}: {message}",
                bucket=bucket,
                key=key,
            ) from None
        except BotoCoreError as exc:
            raise RemoteError(
                f"remote cache: S3 failed on {where}: {exc}", bucket=bucket, key=key
            ) from None


class _Missing(Exception):
    """Internal: the key is not there."""


class _LostRace(Exception):
    """Internal: a conditional write found the key already created."""


def _check_hex(value: str, what: str) -> None:
    if not _HEX64.fullmatch(value):
        raise ValueError(f"{what} must be 64 lowercase hex digits (a sha256), got {value!r}")
