"""Partner intake against the real broker and the real worker, whose web server serves the API.

A partner submits over HTTP; the referral is on toex.referrals; the worker
processes it and the partner sees the status change; another partner sees
nothing of it; a resubmission publishes nothing; with Kafka down, a 503 and
nothing kept.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import Engine, update

from tests.conftest import free_port
from tests.intake_helpers import anonymous_referral, served
from tests.integration.test_match_worker import let_workers_follow_nominals, publish_nominal
from toex_stream.adapters.kafka_io import TopicReader, durable_producer
from toex_stream.adapters.kafka_publisher import KafkaReferralPublisher
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import entries
from toex_stream.adapters.sql.intake_models import PartnerRow
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.store import build_engine
from toex_stream.domain import contract
from toex_stream.domain.audit import AuditRecord
from toex_stream.entry.web import build_intake_app

pytestmark = pytest.mark.integration


def call(url: str, token: str, body: dict | None = None) -> tuple[int, dict, dict]:
    """One request; returns the status, the JSON body and the headers (errors included)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


@pytest.fixture
def partners(kafka: Settings, worker) -> tuple[IntakeStore, str, str, str, str]:
    """Two partners in the worker's database: (store, first id, its token, second id, its token)."""
    store = IntakeStore(build_engine(kafka))
    tag = uuid.uuid4().hex[:8]
    first, first_token = store.add_partner("First Partner", partner_id=f"first-{tag}")
    second, second_token = store.add_partner("Second Partner", partner_id=f"second-{tag}")
    return store, first.partner_id, first_token, second.partner_id, second_token


def wait_for_status(url: str, token: str, status: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, receipt, _ = call(url, token)
        if code == 200 and receipt["status"] == status or time.monotonic() > deadline:
            return receipt
        time.sleep(0.5)


def referrals_keyed(reader: TopicReader, key: str, seconds: float) -> list[contract.Referral]:
    found, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        found += [contract.Referral.model_validate_json(m.value()) for m in reader.poll(timeout=0.5)
                  if m.key() == key.encode()]
    return found


# -- receipts on SQLite and PostgreSQL (no broker) ------------------------------------------------


def test_receipts_are_reserved_once_confirmed_released_and_processed_on_both_databases(
    store: object, store_engine: Engine
) -> None:
    intake = IntakeStore(store_engine)  # the store fixture has migrated store_engine
    _, token = intake.add_partner("Partner", partner_id="p1")
    assert intake.authenticate(token).partner_id == "p1"
    pending, created = intake.reserve("p1", "R-1")
    again, created_again = intake.reserve("p1", "R-1")  # the unique constraint settles it
    assert created and not created_again and again.reference == pending.reference
    assert intake.receipt("p1", "R-1") is None, "a pending receipt is never shown"
    intake.release(pending)
    assert intake.receipt("p1", "R-1", include_pending=True) is None
    received = intake.confirm(intake.reserve("p1", "R-1")[0])
    assert received.status == "received" and received.matched is None
    assert received.received_at.tzinfo is not None
    assert intake.record_outcome("p1", "R-1", matched=True)
    processed = intake.receipt("p1", "R-1")
    assert (processed.status, processed.matched) == ("processed", True)
    assert intake.confirm(processed).status == "processed", "a late confirmation never undoes processing"


def test_a_receipt_is_processed_once_its_latest_revision_is_whichever_commits_first_on_both_databases(
    store: object, store_engine: Engine
) -> None:
    receipts = IntakeStore(store_engine)  # the store fixture has migrated store_engine
    receipts.add_partner("Partner One", partner_id="p1")
    record = AuditRecord("alteration", "referral.amended", "partner:p1", "TXR", "revision 1", "a correction")
    # The worker can process revision 1 before the intake commits the amendment it has just published.
    early = receipts.confirm(receipts.reserve("p1", "R-EARLY", "d0")[0])
    assert receipts.record_outcome("p1", "R-EARLY", matched=True, revision=1)
    amended, head = receipts.amend(early, 1, "d1", record)
    assert (amended.status, amended.matched, amended.revision) == ("processed", True, 1) and head is not None
    # Or after: a late outcome of revision 0 changes nothing; revision 1's makes it processed.
    late = receipts.confirm(receipts.reserve("p1", "R-LATE", "d0")[0])
    amended, _ = receipts.amend(late, 1, "d1", record)
    assert amended.status == "received"
    receipts.record_outcome("p1", "R-LATE", matched=True, revision=0)
    assert receipts.receipt("p1", "R-LATE").status == "received"
    receipts.record_outcome("p1", "R-LATE", matched=False, revision=1)
    assert (receipts.receipt("p1", "R-LATE").status, receipts.receipt("p1", "R-LATE").matched) == ("processed", False)
    assert receipts.digests(amended) == {"d0", "d1"}
    # The same revision recorded twice (a partner retrying) is one amendment and one log entry.
    again, head = receipts.amend(late, 1, "d1", record)
    assert again.revision == 1 and head is None
    assert [e.record.action for e in entries(receipts.engine)] == ["referral.amended"] * 2



def test_partner_tokens_expire_record_their_last_use_and_rotate_on_both_databases(
    store: object, store_engine: Engine
) -> None:
    partners = IntakeStore(store_engine)  # the store fixture has migrated store_engine
    partner, token = partners.add_partner("Partner", partner_id="p1", valid_for=dt.timedelta(days=30))
    assert partner.expires_at is not None and partners.partners()[0].last_used_at is None
    assert partners.authenticate(token).partner_id == "p1"
    assert partners.partners()[0].last_used_at is not None
    with store_engine.begin() as connection:  # thirty days on
        connection.execute(update(PartnerRow).values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    assert partners.authenticate(token) is None
    _, rotated = partners.rotate_token("p1")
    assert partners.authenticate(rotated).partner_id == "p1" and partners.authenticate(token) is None


# -- the worker serves the intake --------------------------------------------------------------


def test_a_referral_submitted_to_the_worker_is_published_processed_and_private(kafka, partners) -> None:
    store, partner_id, token, _other_id, other_token = partners
    base = f"http://127.0.0.1:{kafka.web_port}"
    body = anonymous_referral(f"INT-{uuid.uuid4().hex[:8]}")
    status_url = f"{base}/v1/referrals/{body['referral_id']}"
    key = f"{partner_id}:{body['referral_id']}"
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_REFERRALS]) as reader:
        code, receipt, headers = call(f"{base}/v1/referrals", token, body)
        assert code == 202, receipt
        assert headers["Location"] == f"/v1/referrals/{body['referral_id']}"

        [published] = referrals_keyed(reader, key, seconds=5)
        assert published.partner_id == partner_id and published.referral_id == body["referral_id"]

        processed = wait_for_status(status_url, token, "processed")
        assert processed["status"] == "processed" and processed["matched"] is None  # not disclosed
        assert processed["reference"] == receipt["reference"]
        assert set(processed) == {"reference", "referral_id", "received_at", "status", "matched", "updated_at",
                                  "revision"}

        code, refused, _ = call(status_url, other_token)
        assert code == 404 and refused["errors"][0]["loc"] == "referral_id"

        code, again, _ = call(f"{base}/v1/referrals", token, body)
        assert code == 200 and again["reference"] == receipt["reference"]
        assert referrals_keyed(reader, key, seconds=3) == [], "a resubmission publishes nothing"

        # A correction: the next revision, on the same key, processed by the worker again.
        corrected = {**body, "urgency": "immediate_risk"}
        code, amended, _ = call(f"{status_url}/amendments", token, {"reason": "risk reassessed", "referral": corrected})
        assert code == 202 and amended["revision"] == 1, amended
        [revision] = referrals_keyed(reader, key, seconds=5)
        assert (revision.revision, revision.urgency) == (1, "immediate_risk")
        reprocessed = wait_for_status(status_url, token, "processed")
        assert (reprocessed["status"], reprocessed["revision"]) == ("processed", 1)
        assert store.receipt(partner_id, body["referral_id"]).revision == 1


def test_a_referral_naming_a_known_nominal_tells_the_partner_nothing_about_matching(kafka, partners) -> None:
    """A receipt must not answer "do the police know this person?" (unless a deployment discloses it)."""
    store, partner_id, token, _other, _other_token = partners
    phone_tail = f"{uuid.uuid4().int % 1000:03d}"
    nominal_id = f"WMP-I-{uuid.uuid4().hex[:6]}"
    publish_nominal(durable_producer(kafka.kafka_bootstrap), nominal_id, "Ildikó", "Szabó", "1999-05-17",
                    f"+447700901{phone_tail}")
    let_workers_follow_nominals()
    body = {**anonymous_referral(f"INT-{uuid.uuid4().hex[:8]}"), "consent_to_share": True,
            "subjects": [{"role": "potential_victim", "given_name": "Ildiko", "family_name": "Szabo",
                          "date_of_birth": "1999-05-17", "phones": [f"07700 901{phone_tail}"]}]}
    base = f"http://127.0.0.1:{kafka.web_port}"
    code, _receipt, _ = call(f"{base}/v1/referrals", token, body)
    assert code == 202

    processed = wait_for_status(f"{base}/v1/referrals/{body['referral_id']}", token, "processed")
    assert processed["status"] == "processed" and processed["matched"] is None
    assert nominal_id not in json.dumps(processed), "the status carries no intelligence"
    # The worker did match it: the receipt row knows, the partner is not told.
    assert store.receipt(partner_id, body["referral_id"]).matched is True


def test_with_kafka_unreachable_the_partner_gets_503_and_nothing_is_kept(kafka, partners) -> None:
    store, partner_id, token, _other, _other_token = partners
    dead = KafkaReferralPublisher(f"127.0.0.1:{free_port()}", timeout_s=2.0)
    body = anonymous_referral(f"INT-{uuid.uuid4().hex[:8]}")
    with served(build_intake_app(kafka, store, dead)) as base:
        started = time.monotonic()
        code, answer, headers = call(f"{base}/v1/referrals", token, body)
        assert code == 503 and int(headers["Retry-After"]) > 0
        assert "Kafka is unavailable" in answer["errors"][0]["message"]
        assert time.monotonic() - started < 15, "bounded by message.timeout.ms"
    assert store.receipt(partner_id, body["referral_id"], include_pending=True) is None
