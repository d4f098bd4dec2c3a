"""The worker's web port as an attacker on the network meets it: the allow-list and nothing else.

And the partner API as a client that follows its OpenAPI document meets it:
schemathesis, every check, every phase, against ``toex-stream intake serve``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from streams.app import WORKER_ROUTES
from tests.api_fuzz import fuzz_intake
from tests.integration.conftest import send
from tests.integration.test_match_worker import let_workers_follow_nominals, publish_nominal, referral_about
from tests.integration.test_score_worker import scores_for
from toex_stream.adapters.kafka_io import TopicReader, durable_producer
from toex_stream.domain import contract

pytestmark = pytest.mark.integration


def status_of(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(errors="replace")


def routes_the_worker_logged(log_text: str) -> frozenset[tuple[str, str]]:
    [line] = re.findall(r"web port \d+ serves (.*)$", log_text, re.M)[-1:]
    return frozenset(tuple(route.strip().split(" ", 1)) for route in line.split(", "))


def test_the_worker_serves_its_allow_list_and_no_table_router_or_stats_view(kafka, worker, referral) -> None:
    logged = routes_the_worker_logged((kafka.data_dir / "worker.log").read_text(errors="replace"))
    assert logged == WORKER_ROUTES, "the running worker's router holds exactly the documented routes"

    # A person with scoring state in the worker's nominal-state table, so the table view has a real key.
    producer = durable_producer(kafka.kafka_bootstrap)
    publish_nominal(producer, "WMP-W-1", "Zofia", "Nowak", "1994-02-03", "+447700900777")
    let_workers_follow_nominals()
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_SCORES]) as reader:
        send(producer, contract.TOPIC_REFERRALS, referral_about(referral, "webport", "Zofia", "Nowak", "07700 900777"))
        assert scores_for(reader, "WMP-W-1", 1), "the nominal was scored, so its state is in the table"

    base = f"http://127.0.0.1:{kafka.web_port}"
    for path in ("/table/", "/table/nominal-state/", "/table/nominal-state/WMP-W-1/", "/router/", "/", "/assignment/",
                 "/graph/", "/stats/", "/performance/"):
        code, body = status_of(base + path)
        assert code == 404, f"{path} answered {code}"
        assert "Zofia" not in body and "447700900777" not in body

    code, health = status_of(f"{base}/healthz")
    assert code == 200 and json.loads(health) == {"status": "ok", "ready": True}
    code, metrics = status_of(f"{base}/metrics")
    assert code == 200 and "toex_outbox_pending" in metrics
    code, document = status_of(f"{base}/v1/openapi.json")
    assert code == 200 and "/v1/referrals" in json.loads(document)["paths"]
    code, form = status_of(f"{base}/referrals/new")
    assert code == 200 and "<form" in form
    code, _ = status_of(f"{base}/v1/referrals/anything")
    assert code == 401, "the status API answers, and wants a token"


@pytest.mark.floods
def test_schemathesis_finds_no_difference_between_the_intake_and_its_document(kafka, worker, tmp_path) -> None:
    run = fuzz_intake(kafka, tmp_path / "schemathesis", seconds=40, seed=20261202)
    report = f"{run.summary()}\n{run.output[-6000:]}"
    assert run.exit_code == 0, report
    assert {phase: run.phases.get(phase) for phase in ("coverage", "fuzzing", "stateful")} == dict.fromkeys(
        ("coverage", "fuzzing", "stateful"), "passed"), report
    assert run.stateful_scenarios > 0 and run.links_covered >= 2, "the stateful phase followed submit -> status"
    assert run.generated > 500 and run.passed == run.generated, report
