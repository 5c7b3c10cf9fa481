"""Local stand-ins for the cloud services the paid voice backends call.

Both run on 127.0.0.1 in a thread of the test process and speak real HTTP,
so a backend's own client (openai, boto3) runs unchanged, retries and all:

* :class:`ScriptedServer` answers each request with the next scripted
  :class:`Reply` and records what it was sent; :meth:`ScriptedServer.openai_error`
  shapes a reply like an OpenAI API error.
* :class:`MotoServer` runs moto's ``ThreadedMotoServer`` (a fake AWS) with
  moto's request recorder switched on, for checking what a backend sent.
* :func:`voiced_pcm` makes a stand-in for speech: a harmonic tone in
  syllables, with silence at both ends, as 16-bit little-endian PCM.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import numpy as np
from botocore.config import Config


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """One request the server received; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class ScriptedServer:
    """An HTTP server that replays scripted replies in order and records every request.

    Use it as a context manager. When the script runs out it answers
    ``418`` with ``x-should-retry: false``, which clients do not retry, so
    an unexpected extra request shows up as a failure rather than a hang.
    """

    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        self.requests: list[Recorded] = []
        self._replies = list(replies)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def script(self, *replies: Reply) -> None:
        """Queue more replies after those already scripted."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        """The base URL an OpenAI client should use (``OPENAI_BASE_URL``)."""
        return f"{self.url}/v1"

    @staticmethod
    def openai_error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
        """A reply shaped like an OpenAI API error (``{"error": {...}}``)."""
        body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
        headers = {key.replace("_", "-"): value for key, value in headers.items()}
        return Reply(
            status, json.dumps(body).encode(), {"content-type": "application/json"} | headers
        )

    def _next(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.pop(0)
        return Reply(
            418,
            b'{"error": {"message": "no scripted reply left"}}',
            {
                "content-type": "application/json",
                "x-should-retry": "false",
            },
        )

    def __enter__(self) -> ScriptedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                reply = owner._next(Recorded(self.command, self.path, headers, body))
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class MotoServer:
    """moto's fake AWS on a free local port, recording every request it serves.

    moto's recorder is one object per process. It appends each request as a
    JSON line (method, url, headers, base64 body) to the file named by
    ``MOTO_RECORDER_FILEPATH``, read once when ``moto.moto_api`` is first
    imported, else to ``moto_recording`` relative to the *current
    directory*: enter this with the working directory set to a temporary
    folder (``monkeypatch.chdir(tmp_path)``). ``MOTO_ENABLE_RECORDING`` is
    likewise read only at that import, so recording is switched on here
    through ``/moto-api/recorder/start-recording`` instead.
    """

    def __init__(self) -> None:
        self._server: Any = None
        self.url = ""

    def _call(self, method: str, path: str) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def recording(self) -> list[dict[str, Any]]:
        """Requests recorded since entering, oldest first; JSON bodies parsed into ``json``.

        moto appends one JSON record a request, from the server's threads: two
        requests at once can land on one line, so the records are read one
        document at a time rather than one line at a time.
        """
        entries = []
        text = self._call("GET", "/moto-api/recorder/download-recording").decode()
        decoder, space = json.JSONDecoder(), re.compile(r"\s*")
        at = space.match(text).end()  # type: ignore[union-attr]
        while at < len(text):
            entry, at = decoder.raw_decode(text, at)
            at = space.match(text, at).end()  # type: ignore[union-attr]
            body = entry.get("body") or ""
            raw = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
            try:
                entry["json"] = json.loads(raw) if raw else None
            except ValueError:
                entry["json"] = None
            entries.append(entry)
        return entries

    def __enter__(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self._call("POST", "/moto-api/reset")
        self._call("POST", "/moto-api/recorder/reset-recording")
        self._call("POST", "/moto-api/recorder/start-recording")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call("POST", "/moto-api/recorder/stop-recording")
            self._call("POST", "/moto-api/reset")
        finally:
            self._server.stop()


class SharedMotoServer(MotoServer):
    """A :class:`MotoServer` meant to serve a whole test module (it is slow to stop).

    Call :meth:`reset` at the start of each test: moto forgets every resource
    (buckets and all) and the recording starts afresh. The working-directory
    rule for the recorder holds for the server's whole life.
    """

    def reset(self) -> None:
        """Forget all resources and all recorded requests."""
        self._call("POST", "/moto-api/reset")
        self._call("POST", "/moto-api/recorder/reset-recording")
        self._call("POST", "/moto-api/recorder/start-recording")


def voiced_pcm(
    rate: int,
    syllables: Sequence[tuple[float, float]],
    seconds: float,
    f0: float = 140.0,
) -> bytes:
    """A voice-like test signal as 16-bit little-endian mono PCM.

    A harmonic tone on ``f0`` (five partials, falling in level) sounds
    during each ``(start, end)`` syllable, in seconds, under a raised-cosine
    envelope; everything else, including both ends, is digital silence.
    """
    t = np.arange(round(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    envelope = np.zeros_like(t)
    for start, end in syllables:
        inside = (t >= start) & (t < end)
        phase = (t[inside] - start) / (end - start)
        envelope[inside] = 0.5 - 0.5 * np.cos(2 * np.pi * phase)
    signal = 0.3 * envelope * tone / np.max(np.abs(tone))
    return (signal * 32767).round().astype("<i2").tobytes()


BUCKET = "film-cache"
# Every variable that could hand botocore credentials, a profile or an endpoint.
AWS_CHAIN = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_POLLY",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
]


_SESSION: list[Any] = []  # one boto3 session for the raw clients: it caches the S3 model
_SESSION_LOCK = threading.Lock()


def raw_client(server: MotoServer | ScriptedServer | str, attempts: int = 1) -> Any:
    """A plain S3 client on ``server`` with test credentials of its own (not the chain)."""
    url = server if isinstance(server, str) else server.url
    with _SESSION_LOCK:
        if not _SESSION:
            _SESSION.append(boto3.session.Session())
        return _SESSION[0].client(
            "s3",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": attempts}),
        )
