"""Reading the openai SDK's values: its "not given" sentinels, the client's provider, the parsed
body behind a result, and the parts of a request and an answer that chat completions and the
Responses API read alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._deferred import library_classes

__all__ = [
    "SYSTEM_ROLES",
    "assistant_message",
    "given",
    "given_text",
    "provider_of",
    "raw_response_classes",
    "request_parameters",
    "response_body",
    "response_details",
]

_base_model = library_classes("openai", "BaseModel")
raw_response_classes = library_classes("openai._legacy_response", "LegacyAPIResponse")
"""What ``with_raw_response`` returns (LangChain's ChatOpenAI calls through it)."""

SYSTEM_ROLES = ("system", "developer")
"""The roles of a request's instructions rather than its messages."""

_sentinels = library_classes("openai", "NotGiven", "Omit")
_azure_clients = library_classes("openai", "AzureOpenAI", "AsyncAzureOpenAI")


def given(value: Any) -> bool:
    """Whether a request's value was given: neither None nor one of the SDK's sentinels."""
    return value is not None and not isinstance(value, _sentinels())


def given_text(value: Any) -> str | None:
    """A given value as text; None when it was not given."""
    if type(value) is str:
        return value
    return str(value) if given(value) else None


def provider_of(instance: Any) -> str:
    """Azure OpenAI for a resource of an Azure client, else OpenAI."""
    client = getattr(instance, "_client", None)
    return sc.PROVIDER_AZURE_OPENAI if isinstance(client, _azure_clients()) else sc.PROVIDER_OPENAI


def request_parameters(kwargs: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The given parameters among ``names`` (a parameter's name to its attribute) under their attributes."""
    # A call passes a few of the many parameters, often none of them (found by one set intersection,
    # in C): then what it passed is walked, in its order, not every known name.
    if not names.keys() & kwargs.keys():
        return {}
    return {names[name]: value for name, value in kwargs.items() if name in names and given(value)}


def assistant_message(parts: list[dict[str, Any]], finish_reason: Any) -> dict[str, Any]:
    """An answer's message in the GenAI format."""
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason}


def response_body(result: Any) -> Any:
    """The parsed response model behind a call's result, or None when there is none to read."""
    if isinstance(result, raw_response_classes()):
        try:
            return result.parse()  # parsed once and cached: the caller's own parse() gets the same object
        except Exception:
            return None
    return result if isinstance(result, _base_model()) else None


def response_details(body: Any) -> dict[str, Any] | None:
    """The answer's ``service_tier`` and ``system_fingerprint`` (OpenAI's own attributes), if any."""
    tier, fingerprint = getattr(body, "service_tier", None), getattr(body, "system_fingerprint", None)
    if type(tier) is not str and type(fingerprint) is not str:
        return None
    details = {}
    if type(tier) is str:
        details[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
    if type(fingerprint) is str:
        details[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
    return details
