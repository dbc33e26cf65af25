"""Price table and cost calculation for LLM calls.

Prices are the providers' published *list* prices in USD per 1 million tokens, as
compiled in November 2025 (standard/paid tier, text tokens, no batch or
volume discounts). Where a provider charges more above a context-length threshold
(Gemini Pro models above 200k/128k prompt tokens, Claude Sonnet 4/4.5 above 200k)
the lower, default tier is used. Anthropic ``cache_creation`` is the 5-minute cache
write price. Embedding models have no output price (``output`` is 0.0).

The figures go stale as providers change prices; treat results as estimates.

The table lives in the exporter package, which depends on nothing of ``sentrial``, so that both the
SDK and the exporter can price calls; ``sentrial.pricing`` gives the public names under the SDK's path.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ModelPrice",
    "calculate_anthropic_cost",
    "calculate_cost",
    "calculate_google_cost",
    "calculate_openai_cost",
    "find_price",
]

_logger = logging.getLogger("sentrial")

# Costs are summed in whole units of 1e-5 USD per 1M tokens (the table's finest price step) and
# divided once at the end: exact integer sums and one correctly rounded division, so 0.0075 comes out
# as 0.0075, with no float noise to round away (round(x, 10) is slow on a cold cache).
_UNITS_PER_USD = 100_000
_UNITS_PER_TOKEN_USD = _UNITS_PER_USD * 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    """Prices of one model in USD per 1M tokens (``None``: the provider has no such price)."""

    input: float
    output: float
    cached_input: float | None = None
    cache_creation: float | None = None
    # (input, output, cached input, cache creation) in units; a missing price is the input price.
    _units: tuple[int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        units = [round(price * _UNITS_PER_USD) for price in (self.input, self.output)]
        for price in (self.cached_input, self.cache_creation):
            units.append(units[0] if price is None else round(price * _UNITS_PER_USD))
        object.__setattr__(self, "_units", tuple(units))


_P = ModelPrice

_GPT_4_TURBO = _P(10.00, 30.00)
_CLAUDE_OPUS_4 = _P(15.00, 75.00, cached_input=1.50, cache_creation=18.75)
_CLAUDE_SONNET = _P(3.00, 15.00, cached_input=0.30, cache_creation=3.75)

# The price tables below are data: their rows are alike in shape by nature.
_OPENAI: dict[str, ModelPrice] = {
    # GPT-5 family
    "gpt-5": _P(1.25, 10.00, cached_input=0.125),
    "gpt-5-mini": _P(0.25, 2.00, cached_input=0.025),
    "gpt-5-nano": _P(0.05, 0.40, cached_input=0.005),
    "gpt-5-pro": _P(15.00, 120.00),
    "gpt-5.1": _P(1.25, 10.00, cached_input=0.125),
    "gpt-5.1-codex-mini": _P(0.25, 2.00, cached_input=0.025),
    # GPT-4.1 family
    "gpt-4.1": _P(2.00, 8.00, cached_input=0.50),
    "gpt-4.1-mini": _P(0.40, 1.60, cached_input=0.10),
    "gpt-4.1-nano": _P(0.10, 0.40, cached_input=0.025),
    "gpt-4.5-preview": _P(75.00, 150.00, cached_input=37.50),
    # GPT-4o family
    "gpt-4o": _P(2.50, 10.00, cached_input=1.25),
    "gpt-4o-2024-05-13": _P(5.00, 15.00),
    "gpt-4o-realtime-preview": _P(5.00, 20.00, cached_input=2.50),
    "gpt-4o-mini": _P(0.15, 0.60, cached_input=0.075),
    "gpt-4o-mini-realtime-preview": _P(0.60, 2.40, cached_input=0.30),
    # Reasoning models
    "o1": _P(15.00, 60.00, cached_input=7.50),
    "o1-mini": _P(1.10, 4.40, cached_input=0.55),
    "o1-pro": _P(150.00, 600.00),
    "o3": _P(2.00, 8.00, cached_input=0.50),
    "o3-pro": _P(20.00, 80.00),
    "o3-deep-research": _P(10.00, 40.00, cached_input=2.50),
    "o3-mini": _P(1.10, 4.40, cached_input=0.55),
    "o4-mini": _P(1.10, 4.40, cached_input=0.275),
    "o4-mini-deep-research": _P(2.00, 8.00, cached_input=0.50),
    # Legacy GPT-4 / GPT-3.5
    "gpt-4-turbo": _GPT_4_TURBO,
    "gpt-4-0125-preview": _GPT_4_TURBO,
    "gpt-4-1106-preview": _GPT_4_TURBO,
    "gpt-4-vision-preview": _GPT_4_TURBO,
    "gpt-4": _P(30.00, 60.00),
    "gpt-4-32k": _P(60.00, 120.00),
    "gpt-3.5-turbo": _P(0.50, 1.50),
    "gpt-3.5-turbo-instruct": _P(1.50, 2.00),
    # Embeddings (input only)
    "text-embedding-3-small": _P(0.02, 0.0),
    "text-embedding-3-large": _P(0.13, 0.0),
    "text-embedding-ada-002": _P(0.10, 0.0),
}

_ANTHROPIC: dict[str, ModelPrice] = {
    "claude-opus-4-5": _P(5.00, 25.00, cached_input=0.50, cache_creation=6.25),
    "claude-opus-4-1": _CLAUDE_OPUS_4,
    "claude-opus-4": _CLAUDE_OPUS_4,
    "claude-sonnet-4-5": _CLAUDE_SONNET,
    "claude-sonnet-4": _CLAUDE_SONNET,
    "claude-haiku-4-5": _P(1.00, 5.00, cached_input=0.10, cache_creation=1.25),
    "claude-3-7-sonnet": _CLAUDE_SONNET,
    "claude-3-5-sonnet": _CLAUDE_SONNET,
    "claude-3-5-haiku": _P(0.80, 4.00, cached_input=0.08, cache_creation=1.00),
    "claude-3-opus": _P(15.00, 75.00, cached_input=1.50, cache_creation=18.75),
    "claude-3-haiku": _P(0.25, 1.25, cached_input=0.03, cache_creation=0.30),
}

_GOOGLE: dict[str, ModelPrice] = {
    "gemini-3-pro": _P(2.00, 12.00, cached_input=0.20),
    "gemini-2.5-pro": _P(1.25, 10.00, cached_input=0.125),
    "gemini-2.5-flash": _P(0.30, 2.50, cached_input=0.03),
    "gemini-2.5-flash-lite": _P(0.10, 0.40, cached_input=0.01),
    "gemini-2.0-flash": _P(0.10, 0.40, cached_input=0.025),
    "gemini-2.0-flash-lite": _P(0.075, 0.30),
    "gemini-1.5-pro": _P(1.25, 5.00, cached_input=0.3125),
    "gemini-1.5-flash": _P(0.075, 0.30, cached_input=0.01875),
    "gemini-1.5-flash-8b": _P(0.0375, 0.15, cached_input=0.01),
}

# Canonical provider -> model family -> price.
_PRICES: dict[str, dict[str, ModelPrice]] = {
    "openai": _OPENAI,
    "anthropic": _ANTHROPIC,
    "google": _GOOGLE,
}

_PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai",
    # Azure OpenAI global deployments are billed at OpenAI's list prices.
    "azure": "openai",
    "azure.ai.openai": "openai",
    "az.ai.openai": "openai",
    "azure_openai": "openai",
    "anthropic": "anthropic",
    # Gemini API and Vertex AI share list prices for Gemini models.
    "google": "google",
    "gemini": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "google_genai": "google",
    "google-genai": "google",
}

_DEFAULT_MODEL: dict[str, str] = {
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4",
    "google": "gemini-2.0-flash",
}

# Bedrock-style ids: "anthropic.claude-...", "us.anthropic.claude-...".
_VENDOR_DOT_PREFIX = re.compile(r"^(?:(?:us|eu|apac|global)\.)?(?:anthropic|openai|google)\.")
# A 1-2 digit segment after the family name is a newer minor version ("claude-opus-4-5"
# is not "claude-opus-4"), except the "-0" alias ("claude-sonnet-4-0").
_MINOR_VERSION = re.compile(r"^(?!0(?:\D|$))\d{1,2}(?:\D|$)")

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _canonical_provider(provider: str) -> str | None:
    return _PROVIDER_ALIASES.get(provider.strip().lower())


def _normalize_model(model: str) -> str:
    name = model.strip().lower()
    name = name.rsplit("/", 1)[-1]  # "models/x", "openai/x", ".../publishers/google/models/x"
    return _VENDOR_DOT_PREFIX.sub("", name)


def _match_family(table: dict[str, ModelPrice], name: str) -> ModelPrice | None:
    if name in table:
        return table[name]
    best: str | None = None
    for family in table:
        if len(name) <= len(family) or not name.startswith(family):
            continue
        sep, rest = name[len(family)], name[len(family) + 1 :]
        if sep not in "-@" or (sep == "-" and _MINOR_VERSION.match(rest)):
            continue
        if best is None or len(family) > len(best):
            best = family
    return table[best] if best is not None else None


def find_price(provider: str, model: str) -> ModelPrice | None:
    """Return the price of ``model`` at ``provider``, or ``None`` if either is unknown.

    ``provider`` is ``"openai"``, ``"anthropic"`` or ``"google"`` (case-insensitive; Azure
    OpenAI and Gemini/Vertex AI aliases accepted). ``model`` may carry a provider prefix
    (``"models/gemini-2.0-flash"``, ``"openai/gpt-4o"``, ``"anthropic.claude-..."``) and a
    snapshot suffix (``"gpt-4o-2024-08-06"``); it maps to the longest known family name.
    """
    _check_names(provider, model)
    found = _lookup(provider, model)
    return found[1] if found is not None else None


@functools.lru_cache(maxsize=1024)
def _lookup(provider: str, model: str) -> tuple[str, ModelPrice] | None:
    """The canonical provider and the price of ``model``, or None if either is unknown."""
    canonical = _canonical_provider(provider)
    if canonical is None:
        return None
    price = _match_family(_PRICES[canonical], _normalize_model(model))
    return (canonical, price) if price is not None else None


def _check_names(provider: Any, model: Any) -> None:
    """Raise TypeError for a provider or model name that is not a string (say, a model of None)."""
    for name, value in (("provider", provider), ("model", model)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def _check_tokens(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _cost(
    provider: str,
    price: ModelPrice,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    cache_creation_tokens: int,
) -> float:
    input_units, output_units, cached_units, creation_units = price._units
    total = output_tokens * output_units + cached_input_tokens * cached_units
    if provider == "anthropic":
        total += input_tokens * input_units + cache_creation_tokens * creation_units
    else:
        total += (input_tokens - cached_input_tokens) * input_units
    return total / _UNITS_PER_TOKEN_USD


def calculate_cost(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cached_input_tokens: int = 0,
    cache_creation_tokens: int = 0,
) -> float | None:
    """Return the USD cost of one call, or ``None`` for an unknown provider or model.

    Pass the token counts as the provider reports them:

    * OpenAI / Google: ``input_tokens`` is the total prompt size and *includes*
      ``cached_input_tokens``; those are billed at the cached price, the rest at the input
      price. ``cache_creation_tokens`` is ignored (cache writes are billed as input).
    * Anthropic: ``input_tokens`` *excludes* cache reads (``cached_input_tokens``) and cache
      writes (``cache_creation_tokens``); each of the three is billed at its own price.

    A model without a cached/cache-write price bills those tokens at its input price.
    Raises ``ValueError`` for a negative or non-integer count, or (OpenAI/Google) more cached
    than input tokens, and ``TypeError`` for a provider or model that is not a string. The result
    is the float nearest the exact cost: 1000 input and 500 output tokens of gpt-4o cost 0.0075,
    not 0.0075000000000001.
    """
    # Checked in full (by _check_tokens) only when something is off: this runs on every LLM call.
    ints = type(input_tokens) is type(output_tokens) is int
    ints = ints and type(cached_input_tokens) is type(cache_creation_tokens) is int
    if not ints or min(input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens) < 0:
        _check_tokens(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_creation_tokens=cache_creation_tokens,
        )
    if type(provider) is not str or type(model) is not str:
        _check_names(provider, model)
    found = _lookup(provider, model)  # cached: this runs on every LLM call
    if found is None:
        return None
    canonical, price = found
    if canonical != "anthropic" and cached_input_tokens > input_tokens:
        raise ValueError("cached_input_tokens cannot exceed input_tokens for this provider")
    return _cost(canonical, price, input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens)


def _cost_with_fallback(provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
    _check_tokens(input_tokens=input_tokens, output_tokens=output_tokens)
    price = find_price(provider, model)
    if price is None:
        default = _DEFAULT_MODEL[provider]
        key = (provider, model)
        with _warned_lock:
            first = key not in _warned
            _warned.add(key)
        if first:
            _logger.warning("sentrial: no %s price for model %r; using %s prices", provider, model, default)
        price = _PRICES[provider][default]
    return _cost(provider, price, input_tokens, output_tokens, 0, 0)


def calculate_openai_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """Return the USD cost of an OpenAI call.

    An unknown model is priced as gpt-4o, with a warning logged once per model name on the
    ``"sentrial"`` logger. Raises ``ValueError`` for negative or non-integer counts and
    ``TypeError`` for a model that is not a string.
    """
    return _cost_with_fallback("openai", model, input_tokens, output_tokens)


def calculate_anthropic_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """Return the USD cost of an Anthropic call.

    An unknown model is priced as claude-sonnet-4, with a warning logged once per model name
    on the ``"sentrial"`` logger. Raises ``ValueError`` for negative or non-integer counts and
    ``TypeError`` for a model that is not a string.
    """
    return _cost_with_fallback("anthropic", model, input_tokens, output_tokens)


def calculate_google_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """Return the USD cost of a Google Gemini call.

    An unknown model is priced as gemini-2.0-flash, with a warning logged once per model name
    on the ``"sentrial"`` logger. Raises ``ValueError`` for negative or non-integer counts and
    ``TypeError`` for a model that is not a string.
    """
    return _cost_with_fallback("google", model, input_tokens, output_tokens)
