"""Model prices and the cost of a call, under the names the published package gives them.

The prices themselves (list prices in USD per 1 million tokens, per provider) live in
:mod:`sentrial_otel_exporter.pricing`, where the exporter can use them too; this module looks a
model up by its name alone and gives prices per 1,000 tokens, as the published package does.
"""

from __future__ import annotations

from sentrial_otel_exporter.pricing import (
    ModelPrice,
    calculate_anthropic_cost,
    calculate_google_cost,
    calculate_openai_cost,
    find_price,
    price_table,
)
from sentrial_otel_exporter.pricing import calculate_cost as calculate_provider_cost

__all__ = [
    "MODEL_PRICING",
    "ModelPrice",
    "calculate_anthropic_cost",
    "calculate_cost",
    "calculate_google_cost",
    "calculate_openai_cost",
    "calculate_provider_cost",
    "find_price",
    "get_model_pricing",
]

# Searched in this order for a model named without its provider; no model family is in two tables.
_PROVIDERS = ("openai", "anthropic", "google")
# What a model no table knows costs, per 1,000 (input, output) tokens: the published fallback.
_DEFAULT_PER_1K = (0.001, 0.002)


def _per_1k(price: ModelPrice) -> tuple[float, float]:
    return (price.input / 1000, price.output / 1000)


# Model family -> (input, output) USD per 1,000 tokens; "default" prices a model no table knows.
MODEL_PRICING: dict[str, tuple[float, float]] = {
    family: _per_1k(price) for provider in _PROVIDERS for family, price in price_table()[provider].items()
}
MODEL_PRICING["default"] = _DEFAULT_PER_1K


def _provider_and_price(model_name: str) -> tuple[str, ModelPrice] | None:
    for provider in _PROVIDERS:
        price = find_price(provider, model_name)
        if price is not None:
            return provider, price
    return None


def get_model_pricing(model_name: str) -> tuple[float, float]:
    """The (input, output) price in USD per 1,000 tokens of a model named without its provider.

    A model no table knows (or an empty name) gets ``MODEL_PRICING["default"]``.
    """
    found = _provider_and_price(model_name) if isinstance(model_name, str) and model_name else None
    return _per_1k(found[1]) if found is not None else MODEL_PRICING["default"]


def calculate_cost(model_name: str, prompt_tokens: int, completion_tokens: int) -> float:
    """The USD cost of one call of a model named without its provider, rounded to 6 decimals.

    A model no table knows is priced at ``MODEL_PRICING["default"]``. For cached tokens or a known
    provider, use :func:`calculate_provider_cost`.
    """
    found = _provider_and_price(model_name) if isinstance(model_name, str) and model_name else None
    if found is not None:
        cost = calculate_provider_cost(found[0], model_name, prompt_tokens, completion_tokens)
        if cost is not None:
            return round(cost, 6)
    input_price, output_price = MODEL_PRICING["default"]
    return round(prompt_tokens / 1000 * input_price + completion_tokens / 1000 * output_price, 6)
