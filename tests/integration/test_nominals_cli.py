"""`toex-stream nominals import` into the real broker and store, then the worker matches against it."""

from __future__ import annotations

import pytest

from tests.integration.conftest import send
from tests.integration.test_match_worker import let_workers_follow_nominals, referral_about, results_for
from tests.unit.test_cli import toex
from toex_stream import contract
from toex_stream.kafka_io import TopicReader, durable_producer, produce_and_wait
from toex_stream.settings import settings_env

pytestmark = pytest.mark.integration

CSV = """record_id,given_name,family_name,date_of_birth,gender,nationality,phone,email,address,postcode,flags,owning_force
NHP-T-9,Ionuț,Căpraru,1969-07-30,male,RO,07700 900 999,,4 Mill Street,NN1 1AA,ocg_member,northamptonshire
NHP-T-10,Ana,Popa,1990-02-30,female,RO,,,,,,northamptonshire
"""


def test_imported_nominals_are_matched_and_a_tombstone_erases_them(kafka, worker, referral, tmp_path):
    path = tmp_path / "nominals.csv"
    path.write_text(CSV, encoding="utf-8")
    env = settings_env(kafka)

    result = toex("nominals", "import", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "2 rows read: 2 created" in result.stdout and "2 published to toex.nominals" in result.stdout
    assert "nominals.csv:3: warning: date_of_birth" in result.stderr, "the impossible date is dropped, the row kept"
    again = toex("nominals", "import", str(path), env=env)
    assert "0 created, 0 updated, 2 unchanged" in again.stdout and "0 published" in again.stdout

    producer = durable_producer(kafka.kafka_bootstrap)
    let_workers_follow_nominals()
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_MATCHES]) as matches:
        event = referral_about(referral, "imported", "Ionut", "CAPRARU", "+44 7700 900999")
        send(producer, contract.TOPIC_REFERRALS, event)
        mention_id = f"toex.referrals:{event['partner_id']}:{event['referral_id']}#0"
        [first] = results_for(matches, {mention_id})[mention_id]
        assert (first.decision, first.nominal_id) == ("match", "NHP-T-9")

        produce_and_wait(producer, contract.TOPIC_NOMINALS, b"NHP-T-9", None)  # the force withdraws the record
        let_workers_follow_nominals()
        erased = referral_about(referral, "erased", "Ionut", "CAPRARU", "+44 7700 900999")
        send(producer, contract.TOPIC_REFERRALS, erased)
        erased_id = f"toex.referrals:{erased['partner_id']}:{erased['referral_id']}#0"
        [after] = results_for(matches, {erased_id})[erased_id]
        assert after.nominal_id != "NHP-T-9" and after.provisional
