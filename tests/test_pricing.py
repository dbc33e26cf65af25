"""Tests for the price table, ``sentrial_otel_exporter.pricing`` (``sentrial.pricing`` re-exports it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction

import pytest

from sentrial_otel_exporter import pricing
from sentrial_otel_exporter.pricing import (
    ModelPrice,
    calculate_anthropic_cost,
    calculate_cost,
    calculate_google_cost,
    calculate_openai_cost,
    find_price,
)


@pytest.fixture
def sentrial_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the "sentrial" logger exactly once, whatever its propagate setting."""
    logger = logging.getLogger("sentrial")
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(pricing, "_warned", set())  # forget earlier "warned once" state
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="sentrial")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


# --- reference figures -------------------------------------------------------------


def test_reference_gpt_4o() -> None:
    assert calculate_cost("openai", "gpt-4o", 1000, 500) == 0.0075
    assert calculate_openai_cost("gpt-4o", 1000, 500) == 0.0075


def test_reference_claude_sonnet_4() -> None:
    assert calculate_cost("anthropic", "claude-sonnet-4", 1000, 500) == 0.0105
    assert calculate_anthropic_cost("claude-sonnet-4-20250514", 1000, 500) == 0.0105


def test_reference_gemini_2_0_flash() -> None:
    assert find_price("google", "gemini-2.0-flash") == ModelPrice(0.10, 0.40, cached_input=0.025)
    assert calculate_cost("google", "gemini-2.0-flash", 1000, 500) == 0.0003
    assert calculate_google_cost("gemini-2.0-flash", 1000, 500) == 0.0003


def test_zero_tokens_cost_nothing() -> None:
    assert calculate_cost("openai", "gpt-4o", 0, 0) == 0.0
    assert calculate_cost("anthropic", "claude-3-haiku", 0, 0) == 0.0
    assert calculate_google_cost("gemini-2.5-pro", 0, 0) == 0.0


# --- model name matching -----------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "family"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4-0613", "gpt-4"),
        ("openai", "gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai", "gpt-5-2025-08-07", "gpt-5"),
        ("openai", "o3-mini-2025-01-31", "o3-mini"),
        ("openai", "o1-2024-12-17", "o1"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("anthropic", "claude-3-haiku-20240307", "claude-3-haiku"),
        ("google", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("google", "gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite"),
        ("google", "gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("google", "gemini-1.5-pro-002", "gemini-1.5-pro"),
    ],
)
def test_snapshot_maps_to_family(provider: str, model: str, family: str) -> None:
    assert find_price(provider, model) is not None
    assert find_price(provider, model) == find_price(provider, family)
    assert find_price(provider, model) is pricing._PRICES[provider][family]


def test_gpt_4o_is_never_gpt_4() -> None:
    gpt_4 = find_price("openai", "gpt-4")
    gpt_4o = find_price("openai", "gpt-4o")
    assert gpt_4 is not None and gpt_4o is not None
    assert gpt_4o != gpt_4
    assert find_price("openai", "gpt-4o-2024-08-06") == gpt_4o
    assert find_price("openai", "gpt-4o-mini") != gpt_4
    assert find_price("openai", "gpt-4-0613") == gpt_4


def test_longest_prefix_wins_over_shorter_families() -> None:
    assert find_price("openai", "o1-mini-2024-09-12") == find_price("openai", "o1-mini")
    assert find_price("openai", "o1-mini") != find_price("openai", "o1")
    assert find_price("anthropic", "claude-opus-4-5-20251101") != find_price("anthropic", "claude-opus-4")


def test_matching_is_case_insensitive() -> None:
    assert find_price("OpenAI", "GPT-4o") == find_price("openai", "gpt-4o")
    assert find_price("ANTHROPIC", "Claude-Sonnet-4-20250514") == find_price("anthropic", "claude-sonnet-4")
    assert calculate_cost("Google", " Gemini-2.0-Flash ", 1000, 500) == 0.0003


@pytest.mark.parametrize(
    ("provider", "model", "family"),
    [
        ("google", "models/gemini-2.0-flash", "gemini-2.0-flash"),
        (
            "google",
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro",
            "gemini-2.5-pro",
        ),
        ("openai", "openai/gpt-4o", "gpt-4o"),
        ("anthropic", "anthropic/claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("anthropic", "anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("anthropic", "us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4@20250514", "claude-sonnet-4"),
    ],
)
def test_provider_prefixes_are_stripped(provider: str, model: str, family: str) -> None:
    assert find_price(provider, model) is pricing._PRICES[provider][family]


@pytest.mark.parametrize(
    ("alias", "canonical", "model"),
    [
        ("azure", "openai", "gpt-4o"),
        ("azure.ai.openai", "openai", "gpt-4o"),
        ("gcp.gemini", "google", "gemini-2.0-flash"),
        ("gcp.vertex_ai", "google", "gemini-2.0-flash"),
        ("gemini", "google", "gemini-2.0-flash"),
        ("google_genai", "google", "gemini-2.0-flash"),
        ("vertex_ai", "google", "gemini-2.0-flash"),
    ],
)
def test_provider_aliases(alias: str, canonical: str, model: str) -> None:
    assert find_price(alias, model) is pricing._PRICES[canonical][model]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4x"),
        ("openai", "gpt-4.7"),
        ("openai", "gpt"),
        ("openai", "my-azure-deployment"),
        ("openai", "ft:gpt-4o-mini-2024-07-18:org::abc123"),
        ("openai", "claude-sonnet-4"),
        ("anthropic", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-9"),
        ("anthropic", "claude-sonnet-40"),
        ("google", "gemini-9.9-ultra"),
        ("mistral", "mistral-large"),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ],
)
def test_unknown_model_returns_none(provider: str, model: str) -> None:
    assert find_price(provider, model) is None
    assert calculate_cost(provider, model, 1000, 500) is None


# --- static helpers: fallback and warning ------------------------------------------


@pytest.mark.parametrize(
    ("helper", "unknown", "default"),
    [
        (calculate_openai_cost, "gpt-unknown-test-model", "gpt-4o"),
        (calculate_anthropic_cost, "claude-unknown-test-model", "claude-sonnet-4"),
        (calculate_google_cost, "gemini-unknown-test-model", "gemini-2.0-flash"),
    ],
)
def test_static_helper_falls_back_and_warns_once(
    helper: Callable[[str, int, int], float],
    unknown: str,
    default: str,
    sentrial_log: pytest.LogCaptureFixture,
) -> None:
    expected = helper(default, 1000, 500)
    assert not sentrial_log.records

    assert helper(unknown, 1000, 500) == expected
    warnings = [r for r in sentrial_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "sentrial"
    assert unknown in warnings[0].getMessage()

    assert helper(unknown, 2000, 10) > 0
    assert len([r for r in sentrial_log.records if r.levelno == logging.WARNING]) == 1


def test_static_helpers_known_models_do_not_warn(sentrial_log: pytest.LogCaptureFixture) -> None:
    assert calculate_openai_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == 0.15
    assert calculate_anthropic_cost("claude-3-5-haiku-latest", 0, 1_000_000) == 4.0
    assert calculate_google_cost("models/gemini-2.5-flash", 1_000_000, 1_000_000) == 2.8
    assert not sentrial_log.records


# --- cached tokens -----------------------------------------------------------------


def test_openai_cached_tokens_are_part_of_input() -> None:
    # gpt-4o: 2.50 in, 1.25 cached, 10.00 out per 1M.
    cost = calculate_cost("openai", "gpt-4o", 1000, 500, cached_input_tokens=400)
    assert cost == pytest.approx((600 * 2.50 + 400 * 1.25 + 500 * 10.00) / 1e6)
    assert cost == 0.007
    assert calculate_cost("openai", "gpt-4o", 1000, 0, cached_input_tokens=1000) == 0.00125


def test_openai_cache_creation_is_not_billed_separately() -> None:
    assert calculate_cost("openai", "gpt-4o", 1000, 500, cache_creation_tokens=300) == 0.0075


def test_cached_tokens_without_cached_price_bill_at_input_price() -> None:
    assert find_price("openai", "gpt-4") is not None
    assert calculate_cost("openai", "gpt-4", 1000, 0, cached_input_tokens=500) == calculate_cost(
        "openai", "gpt-4", 1000, 0
    )


def test_google_cached_tokens_are_part_of_input() -> None:
    # gemini-2.5-flash: 0.30 in, 0.03 cached, 2.50 out per 1M.
    cost = calculate_cost("google", "gemini-2.5-flash", 10_000, 1000, cached_input_tokens=8000)
    assert cost == round((2000 * 0.30 + 8000 * 0.03 + 1000 * 2.50) / 1e6, 10)


def test_anthropic_cache_tokens_are_separate_from_input() -> None:
    # claude-sonnet-4: 3.00 in, 15.00 out, 0.30 cache read, 3.75 cache write per 1M.
    cost = calculate_cost(
        "anthropic",
        "claude-sonnet-4-20250514",
        1000,
        500,
        cached_input_tokens=2000,
        cache_creation_tokens=4000,
    )
    assert cost == round((1000 * 3.00 + 500 * 15.00 + 2000 * 0.30 + 4000 * 3.75) / 1e6, 10)
    assert cost == 0.0261


def test_anthropic_cached_may_exceed_input() -> None:
    cost = calculate_cost("anthropic", "claude-3-haiku", 10, 0, cached_input_tokens=1_000_000)
    assert cost == round((10 * 0.25 + 1_000_000 * 0.03) / 1e6, 10)


def test_openai_cached_cannot_exceed_input() -> None:
    with pytest.raises(ValueError):
        calculate_cost("openai", "gpt-4o", 10, 0, cached_input_tokens=11)


# --- validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1, "output_tokens": 0},
        {"input_tokens": 0, "output_tokens": -5},
        {"input_tokens": 1.5, "output_tokens": 0},
        {"input_tokens": 10.0, "output_tokens": 0},
        {"input_tokens": "10", "output_tokens": 0},
        {"input_tokens": None, "output_tokens": 0},
        {"input_tokens": True, "output_tokens": 0},
        {"input_tokens": 10, "output_tokens": 0, "cached_input_tokens": -1},
        {"input_tokens": 10, "output_tokens": 0, "cache_creation_tokens": 2.0},
    ],
)
def test_bad_token_counts_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        calculate_cost("openai", "gpt-4o", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        calculate_cost("anthropic", "claude-sonnet-4", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("helper", [calculate_openai_cost, calculate_anthropic_cost, calculate_google_cost])
def test_static_helpers_reject_bad_counts(helper: Callable[[str, int, int], float]) -> None:
    with pytest.raises(ValueError):
        helper("gpt-4o", -1, 0)
    with pytest.raises(ValueError):
        helper("gpt-4o", 0, 2.5)  # type: ignore[arg-type]


def test_unknown_model_still_validates_counts() -> None:
    with pytest.raises(ValueError):
        calculate_cost("openai", "no-such-model", -1, 0)


# --- table sanity ------------------------------------------------------------------


def _all_entries() -> list[tuple[str, str, ModelPrice]]:
    return [
        (provider, model, price)
        for provider, table in pricing._PRICES.items()
        for model, price in table.items()
    ]


@pytest.mark.parametrize(("provider", "model", "price"), _all_entries())
def test_table_entries_are_sane(provider: str, model: str, price: ModelPrice) -> None:
    assert model == model.lower().strip()
    assert price.input > 0
    if model.startswith("text-embedding"):
        assert price.output == 0.0  # embeddings have no output tokens
    else:
        assert price.output > 0
    if price.cached_input is not None:
        assert 0 < price.cached_input < price.input
    if price.cache_creation is not None:
        assert price.cache_creation > price.input
    if provider == "anthropic":
        assert price.cached_input is not None and price.cache_creation is not None
    else:
        assert price.cache_creation is None


def test_table_covers_required_models() -> None:
    required = {
        "openai": [
            "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o",
            "gpt-4o-mini", "o1", "o3", "o3-mini", "o4-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo",
            "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
        ],
        "anthropic": [
            "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4", "claude-sonnet-4-5", "claude-3-7-sonnet",
            "claude-3-5-sonnet", "claude-3-5-haiku", "claude-haiku-4-5", "claude-3-opus", "claude-3-haiku",
        ],
        "google": [
            "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
            "gemini-2.0-flash-lite", "gemini-1.5-pro", "gemini-1.5-flash",
        ],
    }  # fmt: skip
    for provider, models in required.items():
        for model in models:
            assert model in pricing._PRICES[provider], (provider, model)


def test_model_price_is_frozen() -> None:
    price = ModelPrice(1.0, 2.0)
    assert price.cached_input is None and price.cache_creation is None
    with pytest.raises(AttributeError):
        price.input = 3.0  # type: ignore[misc]


def _every_price() -> Iterator[tuple[str, str, ModelPrice]]:
    for provider, table in pricing._PRICES.items():
        for model, price in table.items():
            yield provider, model, price


@pytest.mark.parametrize(("provider", "model", "price"), list(_every_price()))
def test_cost_is_the_float_nearest_the_exact_decimal_cost(
    provider: str, model: str, price: ModelPrice
) -> None:
    def exact(value: float | None) -> Fraction:
        return Fraction(Decimal(repr(value if value is not None else price.input)))

    # Odd counts, so that a price's last decimal matters; figures as a person would add them up.
    input_tokens, output_tokens, cached, created = 123_457, 9_871, 3_331, 777
    cost = calculate_cost(
        provider,
        model,
        input_tokens,
        output_tokens,
        cached_input_tokens=cached,
        cache_creation_tokens=created,
    )
    billed_input = exact(price.input) * (input_tokens if provider == "anthropic" else input_tokens - cached)
    total = billed_input + exact(price.output) * output_tokens + exact(price.cached_input) * cached
    if provider == "anthropic":
        total += exact(price.cache_creation) * created
    assert cost == float(total / 1_000_000)


def test_every_price_is_a_whole_number_of_cost_units() -> None:
    # The cost sums whole units of 1e-5 USD per 1M tokens: a finer price would be rounded.
    for _, model, price in _every_price():
        for value in (price.input, price.output, price.cached_input, price.cache_creation):
            if value is not None:
                assert (Decimal(repr(value)) * 100_000) % 1 == 0, (model, value)


def test_reference_figures_come_out_without_float_noise() -> None:
    assert calculate_openai_cost("gpt-4o", 1000, 500) == 0.0075
    assert calculate_anthropic_cost("claude-sonnet-4", 1000, 500) == 0.0105
    assert calculate_cost("openai", "gpt-4o-mini", 7, 3) == 0.00000285
