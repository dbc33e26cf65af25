"""Price table and cost calculation for LLM calls (list prices in USD per 1 million tokens).

Defined in :mod:`sentrial_otel_exporter.pricing`, where the exporter can use it too; these are the
same functions under the SDK's import path. See that module for where the prices come from.
"""

from sentrial_otel_exporter.pricing import (
    ModelPrice,
    calculate_anthropic_cost,
    calculate_cost,
    calculate_google_cost,
    calculate_openai_cost,
    find_price,
)

__all__ = [
    "ModelPrice",
    "calculate_anthropic_cost",
    "calculate_cost",
    "calculate_google_cost",
    "calculate_openai_cost",
    "find_price",
]
