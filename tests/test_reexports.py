"""The SDK's import paths of names that the exporter package defines.

The semantic conventions and the price table live in ``sentrial_otel_exporter`` (which depends on
nothing of ``sentrial``); code written for the published package imports them as
``sentrial.semconv`` and ``sentrial.pricing``, and must get the very same objects there.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import sentrial_otel_exporter.pricing
import sentrial_otel_exporter.semconv
from sentrial import pricing, semconv


def public_names(module: ModuleType) -> dict[str, Any]:
    """A module's names that do not start with an underscore, with their values."""
    return {name: value for name, value in vars(module).items() if not name.startswith("_")}


def test_every_semantic_convention_is_importable_from_sentrial_semconv() -> None:
    defined = public_names(sentrial_otel_exporter.semconv)
    assert {"SESSION_ID", "GEN_AI_USAGE_INPUT_TOKENS", "trace_hex", "SHORT_PROVIDER_NAMES"} <= set(defined)
    assert [name for name, value in defined.items() if getattr(semconv, name, None) is not value] == []


def test_sentrial_pricing_gives_the_price_tables_public_names() -> None:
    # calculate_cost is the published one there (by model name alone); the exporter's, by provider,
    # is calculate_provider_cost.
    shared = set(sentrial_otel_exporter.pricing.__all__) - {"calculate_cost", "price_table"}
    assert shared | {
        "calculate_provider_cost",
        "calculate_cost",
        "get_model_pricing",
        "MODEL_PRICING",
    } == set(pricing.__all__)
    for name in shared:
        assert getattr(pricing, name) is getattr(sentrial_otel_exporter.pricing, name), name
    assert pricing.calculate_provider_cost is sentrial_otel_exporter.pricing.calculate_cost
