"""Prometheus metrics, scraped from a real ``/metrics`` endpoint over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from tornado_sessions_observability import install_metrics
from tornado_sessions_observability.labels import MAX_SCHEMES

from tornado_sessions import ConfigurationError

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(browser: Any) -> Samples:
    response = await browser.get("/metrics", cookie_header="")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (sample, _), v in samples.items() if sample == name)


@pytest.mark.gen_test
async def test_lifecycle_counters_count_each_event_once(browser: Any, metrics: Any) -> None:
    assert (await browser.get("/set?a=1")).code == 200  # created and saved
    assert (await browser.get("/get")).code == 200  # loaded
    assert (await browser.get("/set?a=2")).code == 200  # loaded and saved
    assert (await browser.get("/touch")).code == 200  # loaded and touched
    assert (await browser.get("/logout")).code == 200  # loaded and destroyed
    samples = await scrape(browser)
    assert value(samples, "tornado_sessions_sessions_created_total") == 1
    assert value(samples, "tornado_sessions_sessions_loaded_total") == 4
    assert value(samples, "tornado_sessions_sessions_saved_total") == 2
    assert value(samples, "tornado_sessions_sessions_touched_total") == 1
    assert value(samples, "tornado_sessions_sessions_destroyed_total") == 1


@pytest.mark.gen_test
async def test_store_latency_histogram_by_operation_and_scheme(browser: Any, metrics: Any) -> None:
    await browser.get("/set?a=1")
    await browser.get("/get")
    await browser.get("/get")
    samples = await scrape(browser)
    name = "tornado_sessions_store_call_duration_seconds_count"
    assert value(samples, name, operation="load", scheme="memory") == 2
    assert value(samples, name, operation="save", scheme="memory") == 1
    inf = "tornado_sessions_store_call_duration_seconds_bucket"
    assert value(samples, inf, operation="load", scheme="memory", le="+Inf") == 2
    assert total(samples, "tornado_sessions_store_errors_total") == 0


@pytest.mark.gen_test
async def test_rejected_cookies_are_counted_by_reason(browser: Any, metrics: Any) -> None:
    await browser.get("/set?a=1")
    good = browser.cookie
    assert (await browser.get("/get", cookie_header="sessionid=forged.value")).code == 200
    doubled = f"sessionid={good}; sessionid={good}"
    assert (await browser.get("/get", cookie_header=doubled)).code == 200
    samples = await scrape(browser)
    rejected = "tornado_sessions_cookies_rejected_total"
    assert value(samples, rejected, reason="bad_signature") == 1
    assert value(samples, rejected, reason="duplicate") == 1


@pytest.mark.gen_test
@pytest.mark.parametrize("store_url", ["down"], indirect=True)
async def test_store_errors_are_counted_by_operation_scheme_and_kind(
    browser: Any, metrics: Any
) -> None:
    assert (await browser.get("/set?a=1")).code == 503
    assert (await browser.get("/set?a=1")).code == 503
    samples = await scrape(browser)
    errors = "tornado_sessions_store_errors_total"
    # The store is opened (its open() makes one round trip) before any save: each
    # request tries again, and each failure is counted under "open".
    assert value(samples, errors, operation="open", scheme="redis", kind="error") == 2
    assert total(samples, errors) == 2
    count = "tornado_sessions_store_call_duration_seconds_count"
    assert value(samples, count, operation="open", scheme="redis") == 2


@pytest.mark.gen_test
@pytest.mark.parametrize("store_url", ["hangs"], indirect=True)
@pytest.mark.parametrize("session_options", [{"store_timeout": 0.2}], indirect=True)
async def test_a_store_that_does_not_answer_counts_as_a_timeout(browser: Any, metrics: Any) -> None:
    assert (await browser.get("/set?a=1")).code == 503
    samples = await scrape(browser)
    errors = "tornado_sessions_store_errors_total"
    assert value(samples, errors, operation="open", scheme="redis", kind="timeout") == 1


def test_label_values_stay_bounded(metrics: Any, registry: CollectorRegistry) -> None:
    for i in range(MAX_SCHEMES + 10):
        metrics.tornado_sessions_store_call(
            operation=f"custom_{i}", scheme=f"scheme{i}", duration=0.001, error=None
        )
    metrics.tornado_sessions_cookie_rejected(reason="something new")
    operations, schemes, reasons = set(), set(), set()
    for family in registry.collect():
        for sample in family.samples:
            operations.add(sample.labels.get("operation"))
            schemes.add(sample.labels.get("scheme"))
            reasons.add(sample.labels.get("reason"))
    assert operations - {None} == {"other"}
    assert len(schemes - {None, "other"}) == MAX_SCHEMES
    assert "other" in schemes
    assert reasons - {None} == {"other"}


def test_installing_twice_in_one_registry_says_so(metrics: Any, registry: Any) -> None:
    with pytest.raises(ConfigurationError, match="already registered"):
        install_metrics(registry)
    metrics.uninstall()
    again = install_metrics(registry)  # after uninstall() it can be installed again
    again.uninstall()


@pytest.mark.gen_test
async def test_uninstalled_metrics_stop_counting(browser: Any, metrics: Any) -> None:
    metrics.uninstall()
    await browser.get("/set?a=1")
    assert total(await scrape(browser), "tornado_sessions_sessions_created_total") == 0
