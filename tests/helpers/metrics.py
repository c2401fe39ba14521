"""Reading the service's ``/metrics`` as Prometheus does: one scrape, parsed with prometheus-client's parser."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(service, headers: dict[str, str]) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one scrape of ``<base_url>metrics``."""
    response = requests.get(service.url + "metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {key}"
    return samples[key]
