"""Content keys. Pure: canonical JSON in, sha256 hex out.

An action key names one execution of one step: the generator id and version,
its params, its seed, its request (text/size/duration) and the *content
digests* of its inputs. Because inputs enter by digest, an upstream step that
regenerates byte-identical output leaves every downstream key unchanged
(early cutoff).

Tests pin literal keys: changing anything here changes every key, which
invalidates every cache. Bump ``KEY_SCHEMA`` when that is intended.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

KEY_SCHEMA = 1


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    """Hex sha256 of UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def action_key(
    action: str,
    version: str,
    params: Any,
    seed: int,
    request: Any,
    input_digests: Mapping[str, str],
) -> str:
    """The action key of one step execution."""
    return key_of_json(
        action, version, canonical_json(params), seed, canonical_json(request), input_digests
    )


def key_of_json(
    action: str,
    version: str,
    params_json: str,
    seed: int,
    request_json: str,
    input_digests: Mapping[str, str],
) -> str:
    """:func:`action_key`, given params and request already as canonical JSON.

    The payload is canonical JSON of ``{"schema", "action", "version",
    "params", "seed", "request", "inputs"}``; its text is put together around
    the two JSON values as they are (keys in sorted order), which gives the
    same bytes as encoding the decoded values again, without doing it for
    every step of a long film.
    """
    inputs = canonical_json(dict(input_digests)) if input_digests else "{}"
    text = (
        f'{{"action":{_name_json(action)},"inputs":{inputs},'
        f'"params":{params_json},"request":{request_json},"schema":{KEY_SCHEMA},'
        f'"seed":{seed if type(seed) is int else canonical_json(seed)},'
        f'"version":{_name_json(version)}}}'
    )
    return sha256_text(text)


# Backend ids and versions: a few distinct strings, encoded once each.
_name_json = lru_cache(maxsize=256)(canonical_json)


def derive_seed(film_seed: int, step_id: str) -> int:
    """A per-step seed from the film's seed, stable across machines."""
    digest = hashlib.sha256(f"{film_seed}/{step_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
