"""Schemathesis against the service's own OpenAPI document, as an organizer: whatever the document
lets a client send, the service answers below 500, and with a JSON error when it refuses.

Every operation gets at most 25 examples, derandomized (the same examples on every run), both
valid ones and ones that break the schema on purpose.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

EXAMPLES = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


def check_answer(case, response) -> str | None:
    """What is wrong with an answer, or None."""
    where = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:300]}"
    if response.status_code >= 500:
        return f"{where} → {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        if not response.headers.get("content-type", [""])[0].startswith("application/json"):
            return f"{where} → {response.status_code} without JSON"
        error = response.json().get("error", {})
        if error.get("status") != response.status_code or not error.get("message"):
            return f"{where} → {response.status_code} with a malformed error: {response.text[:300]}"
    return None


def test_no_input_makes_the_service_fail(service, users) -> None:
    # an organizer of competitions of their own only: what the fuzz changes or deletes is theirs
    fuzzer = users.make("fuzz", groups=("creators",))
    schema = schemathesis.openapi.from_url(service.api_url + "/openapi.json")
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
            generation_mode=GenerationMode.NEGATIVE)

        @EXAMPLES
        @given(case=strategy)
        def call(case) -> None:
            response = case.call(base_url=service.api_url, headers=fuzzer.headers, timeout=60)
            problem = check_answer(case, response)
            if problem:
                problems.append(problem)

        call()
    assert not problems, f"{len(problems)} bad answers:\n" + "\n".join(problems[:40])
