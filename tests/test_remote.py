"""The remote cache on S3, offline: moto's S3 over real HTTP on localhost.

The cache under test makes its own boto3 client from the standard AWS chain
(here: environment variables), so credentials, retries and the wire format
are the real ones; only the service is a stand-in. Races are staged with
botocore's own event hooks on an injected client, never by patching filmkit.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filmkit.store.artifacts import ArtifactStore
from filmkit.store.remote import RemoteCache, RemoteConfig, RemoteError, RemoteIntegrityError
from tests.servers import BUCKET, MotoServer, Reply, ScriptedServer, raw_client

PREFIX = "films/now-serving"


@pytest.fixture
def config(moto: MotoServer) -> RemoteConfig:
    return RemoteConfig(bucket=BUCKET, prefix=PREFIX, region="us-east-1", endpoint_url=moto.url)


@pytest.fixture
def cache(config: RemoteConfig) -> Iterator[RemoteCache]:
    with RemoteCache(config) as remote:
        yield remote


def make_store(root: Path) -> ArtifactStore:
    store = ArtifactStore(root)
    store.ensure()
    return store


def stored_file(store: ArtifactStore, data: bytes) -> tuple[Path, str]:
    """Put ``data`` into ``store``; returns its object path and digest."""
    work = store.work_dir() / "out.bin"
    work.write_bytes(data)
    obj = store.put(work)
    return store.object_path(obj.digest), obj.digest


def leftovers(store: ArtifactStore) -> list[Path]:
    """Files under the store's scratch space."""
    return [path for path in store.tmp.rglob("*") if path.is_file()]


def puts_to(server: MotoServer, key: str) -> list[dict[str, Any]]:
    """Recorded PUT requests that wrote (not part-uploaded) the key."""
    return [
        entry
        for entry in server.recording()
        if entry["method"] == "PUT"
        and entry["url"].split("?")[0].endswith(f"/{BUCKET}/{key}")
        and "uploadId=" not in entry["url"]
    ]


# --- keys --------------------------------------------------------------------------------------


def test_keys_follow_the_local_layout():
    digest = hashlib.sha256(b"x").hexdigest()
    nested = RemoteCache(RemoteConfig(bucket=BUCKET, prefix="/films/now-serving/"))
    root = RemoteCache(RemoteConfig(bucket=BUCKET))
    assert nested.object_key(digest) == f"films/now-serving/objects/{digest[:2]}/{digest[2:]}"
    assert nested.action_key(digest) == f"films/now-serving/actions/{digest[:2]}/{digest[2:]}.json"
    assert root.object_key(digest) == f"objects/{digest[:2]}/{digest[2:]}"
    assert root.action_key(digest) == f"actions/{digest[:2]}/{digest[2:]}.json"
    with pytest.raises(ValueError, match="sha256"):
        root.object_key("../../etc/passwd")
    root.close()  # no client was ever made: nothing to close, no error


# --- objects -----------------------------------------------------------------------------------


def test_push_then_fetch_into_an_empty_store(cache, config, moto, s3, tmp_path):
    data = os.urandom(3000) + b"frame"
    source, digest = stored_file(make_store(tmp_path / "a"), data)
    key = cache.object_key(digest)
    assert not cache.has_object(digest)

    assert cache.push_object(source, digest) is True
    assert cache.has_object(digest)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"] == {"sha256": digest}
    [put] = puts_to(moto, key)
    assert put["headers"].get("If-None-Match") == "*"

    other = make_store(tmp_path / "b")
    with RemoteCache(config) as second:
        assert second.fetch_object(digest, other) is True
    fetched = other.object_path(digest)
    assert fetched.read_bytes() == data
    assert not fetched.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert leftovers(other) == []

    # Pushing again is a no-op: nothing rewritten, the first upload stands.
    assert cache.push_object(source, digest) is False
    again = s3.head_object(Bucket=BUCKET, Key=key)
    assert (again["ETag"], again["LastModified"]) == (head["ETag"], head["LastModified"])
    assert len(puts_to(moto, key)) == 1


def test_fetch_of_a_missing_object_is_false(cache, tmp_path):
    store = make_store(tmp_path / "s")
    digest = hashlib.sha256(b"never pushed").hexdigest()
    assert cache.fetch_object(digest, store) is False
    assert not store.object_path(digest).exists()
    assert leftovers(store) == []


def test_a_corrupt_remote_object_is_refused(cache, s3, tmp_path):
    source, digest = stored_file(make_store(tmp_path / "a"), b"the real frame")
    assert cache.push_object(source, digest)
    key = cache.object_key(digest)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"the fake frame", Metadata={"sha256": digest})

    store = make_store(tmp_path / "b")
    with pytest.raises(RemoteIntegrityError) as caught:
        cache.fetch_object(digest, store)
    assert digest in str(caught.value) and key in str(caught.value)
    assert (caught.value.digest, caught.value.key) == (digest, key)
    assert not store.object_path(digest).exists()
    assert leftovers(store) == []
    assert list(store.tmp.iterdir()) == []


def test_a_file_that_does_not_match_its_digest_is_not_pushed(cache, s3, tmp_path):
    source, digest = stored_file(make_store(tmp_path / "a"), b"right")
    wrong = hashlib.sha256(b"wrong").hexdigest()
    with pytest.raises(RemoteIntegrityError, match=wrong):
        cache.push_object(source, wrong)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_multipart_upload_round_trip(config, moto, s3, tmp_path):
    data = os.urandom(11 * 2**20 + 123)
    source, digest = stored_file(make_store(tmp_path / "a"), data)
    with RemoteCache(config, multipart_threshold=2**20, part_size=5 * 2**20) as remote:
        assert remote.push_object(source, digest) is True
        key = remote.object_key(digest)
        store = make_store(tmp_path / "b")
        assert remote.fetch_object(digest, store) is True
    assert store.object_path(digest).read_bytes() == data

    requests = moto.recording()
    parts = [e for e in requests if e["method"] == "PUT" and "uploadId=" in e["url"]]
    completes = [e for e in requests if e["method"] == "POST" and "uploadId=" in e["url"]]
    assert len(parts) == 3
    [complete] = completes
    assert complete["headers"].get("If-None-Match") == "*"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(data) and head["Metadata"] == {"sha256": digest}


# --- races -------------------------------------------------------------------------------------


def sneak_in_first(client: Any, operation: str, key: str, body: bytes) -> None:
    """Before ``operation`` is sent, let another writer create ``key`` (once)."""
    done = threading.Event()

    def other_writer(**_: Any) -> None:
        if not done.is_set():
            done.set()
            rival = raw_client(client.meta.endpoint_url)
            try:
                rival.put_object(Bucket=BUCKET, Key=key, Body=body)
            finally:
                rival.close()

    client.meta.events.register(f"before-call.s3.{operation}", other_writer)


def test_losing_the_race_on_put_is_success_and_overwrites_nothing(config, moto, s3, tmp_path):
    source, digest = stored_file(make_store(tmp_path / "a"), b"frame")
    client = raw_client(moto)
    with RemoteCache(config, client) as remote:
        key = remote.object_key(digest)
        sneak_in_first(client, "PutObject", key, b"frame")
        assert remote.push_object(source, digest) is False
    client.close()
    # The rival's copy stands (it has no metadata; ours would have).
    assert s3.head_object(Bucket=BUCKET, Key=key)["Metadata"] == {}


def test_losing_the_race_on_multipart_aborts_the_upload(config, moto, s3, tmp_path):
    data = os.urandom(6 * 2**20)
    source, digest = stored_file(make_store(tmp_path / "a"), data)
    client = raw_client(moto)
    with RemoteCache(config, client, multipart_threshold=0, part_size=5 * 2**20) as remote:
        key = remote.object_key(digest)
        sneak_in_first(client, "CompleteMultipartUpload", key, data)
        assert remote.push_object(source, digest) is False
    client.close()
    assert s3.head_object(Bucket=BUCKET, Key=key)["Metadata"] == {}
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert any(e["method"] == "DELETE" and "uploadId=" in e["url"] for e in moto.recording())


def wait(barrier: threading.Barrier) -> None:
    """Wait at ``barrier``; returns None, so a botocore before-call hook lets the call go on."""
    barrier.wait()


def test_two_concurrent_pushers(config, moto, s3, tmp_path):
    data = os.urandom(200_000)
    source, digest = stored_file(make_store(tmp_path / "a"), data)
    # Both pass their existence check before either puts, so both really race.
    barrier = threading.Barrier(2, timeout=10)
    results: list[bool] = []
    errors: list[BaseException] = []

    def push() -> None:
        client = raw_client(moto)
        client.meta.events.register("before-call.s3.PutObject", lambda **_: wait(barrier))
        try:
            with RemoteCache(config, client) as remote:
                results.append(remote.push_object(source, digest))
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=push) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # moto checks-then-writes without a lock, so both may "win"; real S3 picks one.
    assert sorted(results) in ([False, True], [True, True])
    puts = puts_to(moto, RemoteCache(config).object_key(digest))
    assert [put["headers"].get("If-None-Match") for put in puts] == ["*", "*"]
    store = make_store(tmp_path / "b")
    with RemoteCache(config) as remote:
        assert remote.fetch_object(digest, store)
    assert store.object_path(digest).read_bytes() == data


def test_a_conflict_while_another_write_is_in_flight_is_success(aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    conflict = Reply(
        409,
        b"<Error><Code>ConditionalRequestConflict</Code>"
        b"<Message>A conflicting operation is in progress</Message></Error>",
        {"content-type": "application/xml"},
    )
    with ScriptedServer([conflict]) as server:
        config = RemoteConfig(bucket=BUCKET, region="us-east-1", endpoint_url=server.url)
        with RemoteCache(config) as remote:
            assert remote.push_action("ab" * 32, {"outputs": {}}) is False
        [sent] = server.requests
    assert sent.method == "PUT" and sent.headers.get("if-none-match") == "*"


# --- actions -----------------------------------------------------------------------------------


def test_action_records_round_trip(cache, config, s3):
    key = hashlib.sha256(b"action").hexdigest()
    record = {"outputs": {"audio": {"digest": "cd" * 32, "size": 12}}, "seconds": 1.5}
    assert cache.get_action(key) is None
    assert cache.push_action(key, record) is True
    with RemoteCache(config) as other:
        assert other.get_action(key) == record
        assert other.push_action(key, {"outputs": {}}) is False  # first writer wins
    assert cache.get_action(key) == record


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_a_malformed_action_record_reads_as_missing(cache, s3, body):
    key = hashlib.sha256(body).hexdigest()
    s3.put_object(Bucket=BUCKET, Key=cache.action_key(key), Body=body)
    assert cache.get_action(key) is None


# --- clear errors ------------------------------------------------------------------------------


def test_a_missing_bucket_is_named(moto, tmp_path):
    config = RemoteConfig(bucket="no-such-films", region="us-east-1", endpoint_url=moto.url)
    source, digest = stored_file(make_store(tmp_path / "a"), b"frame")
    store = make_store(tmp_path / "b")
    attempts = [
        lambda remote: remote.has_object(digest),
        lambda remote: remote.push_object(source, digest),
        lambda remote: remote.fetch_object(digest, store),
        lambda remote: remote.get_action(digest),
        lambda remote: remote.push_action(digest, {}),
    ]
    for attempt in attempts:
        with RemoteCache(config) as remote, pytest.raises(RemoteError) as caught:
            attempt(remote)
        message = str(caught.value)
        assert "no-such-films" in message and "does not exist" in message
        assert "create it" in message
    assert leftovers(store) == []


def test_no_credentials_is_explained(aws_env, moto, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        aws_env.delenv(name)
    config = RemoteConfig(bucket=BUCKET, region="us-east-1", endpoint_url=moto.url)
    with RemoteCache(config) as remote, pytest.raises(RemoteError) as caught:
        remote.get_action("ab" * 32)
    message = str(caught.value)
    assert "credentials" in message and BUCKET in message and "AWS_ACCESS_KEY_ID" in message


def test_access_denied_is_explained(aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    denied = Reply(
        403,
        b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        {"content-type": "application/xml"},
    )
    with ScriptedServer([denied]) as server:
        config = RemoteConfig(bucket=BUCKET, region="us-east-1", endpoint_url=server.url)
        with RemoteCache(config) as remote, pytest.raises(RemoteError) as caught:
            remote.get_action("ab" * 32)
    message = str(caught.value)
    assert "access denied" in message and BUCKET in message and "s3:GetObject" in message


def test_an_unreachable_endpoint_is_explained(aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    client = raw_client(url)  # one attempt: the cache's own client would back off 5 times
    try:
        config = RemoteConfig(bucket=BUCKET, endpoint_url=url)
        with RemoteCache(config, client) as remote, pytest.raises(RemoteError) as caught:
            remote.has_object("ab" * 32)
    finally:
        client.close()
    message = str(caught.value)
    assert "cannot reach" in message and "endpoint_url" in message and BUCKET in message


def test_config_and_errors_are_picklable():
    import pickle

    config = RemoteConfig(bucket=BUCKET, prefix=PREFIX, region="eu-west-1", endpoint_url=None)
    assert pickle.loads(pickle.dumps(config)) == config
    # Errors come back from worker processes pickled, attributes and all.
    error = RemoteIntegrityError("bad bytes", digest="ab" * 32, bucket=BUCKET, key="k")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.digest, copy.bucket, copy.key) == (
        RemoteIntegrityError,
        "bad bytes",
        "ab" * 32,
        BUCKET,
        "k",
    )
