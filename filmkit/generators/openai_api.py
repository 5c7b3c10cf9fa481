"""The one place filmkit talks to the OpenAI client: keys, retries and clear errors.

The key comes only from ``OPENAI_API_KEY`` (never from the spec); the client
also honours ``OPENAI_BASE_URL``. Rate limits (429), server errors (5xx) and
timeouts are retried by the openai client itself, ``max_retries`` times with
exponential backoff (or the delay the server asks for in ``retry-after``).
Every other failure becomes a :class:`GeneratorError` that says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from filmkit.errors import GeneratorError


def open_client(max_retries: int, timeout: float) -> Any:
    """An OpenAI client keyed from ``OPENAI_API_KEY``; use it as a context manager."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise GeneratorError(
            "openai: OPENAI_API_KEY is not set; export your OpenAI API key as OPENAI_API_KEY "
            "(keys never go in the film spec)"
        )
    import openai

    return openai.OpenAI(api_key=key, max_retries=max_retries, timeout=timeout)


@contextmanager
def api_errors(client: Any, what: str, max_retries: int, timeout: float) -> Iterator[None]:
    """Turn the openai client's exceptions into GeneratorErrors about ``what`` (the model)."""
    import openai

    try:
        yield
    except openai.AuthenticationError as exc:
        raise GeneratorError(
            f"openai: OpenAI rejected the API key ({exc.status_code}: {reason(exc)}); "
            "set OPENAI_API_KEY to a valid key"
        ) from exc
    except openai.PermissionDeniedError as exc:
        raise GeneratorError(f"openai: this key may not use {what} (403: {reason(exc)})") from exc
    except openai.NotFoundError as exc:
        raise GeneratorError(
            f"openai: {what} was not found ({exc.status_code}: {reason(exc)}); "
            "check the names and that this key has access"
        ) from exc
    except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        raise GeneratorError(
            f"openai: the API refused the request for {what} ({exc.status_code}: "
            f"{reason(exc)}); check the names and params (some models take no temperature "
            "or top_p)"
        ) from exc
    except openai.RateLimitError as exc:
        advice = (
            "the account is out of credit; check billing"
            if exc.code == "insufficient_quota"
            else "wait and build again, or raise max_retries"
        )
        raise GeneratorError(
            f"openai: still rate-limited after {max_retries} retries ({reason(exc)}); {advice}"
        ) from exc
    except openai.InternalServerError as exc:
        raise GeneratorError(
            f"openai: the server failed ({exc.status_code}: {reason(exc)}) on every one of "
            f"{max_retries + 1} attempts; try again later"
        ) from exc
    except openai.APIStatusError as exc:
        raise GeneratorError(
            f"openai: the API answered {exc.status_code}: {reason(exc)} ({what})"
        ) from exc
    except openai.APITimeoutError as exc:
        raise GeneratorError(
            f"openai: no answer within {timeout:g} s on any of {max_retries + 1} attempts; "
            "raise timeout or try again later"
        ) from exc
    except openai.APIConnectionError as exc:
        where = getattr(client, "base_url", "the OpenAI API")
        raise GeneratorError(
            f"openai: cannot reach {where} ({exc.__cause__ or exc}); check the network "
            "and OPENAI_BASE_URL"
        ) from exc
    except openai.OpenAIError as exc:
        raise GeneratorError(f"openai: {exc}") from exc


def reason(exc: Any) -> str:
    """The server's own message from an API error, else the client's summary."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(getattr(exc, "message", exc))
