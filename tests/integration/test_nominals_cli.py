"""`toex-stream nominals import` into the real broker and store, then the worker matches against it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.conftest import free_port
from tests.integration.conftest import send
from tests.integration.test_match_worker import let_workers_follow_nominals, referral_about, results_for
from tests.unit.test_cli import toex
from tests.users_helpers import signed_in
from toex_stream.adapters import topics
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, existing_topics, produce_and_wait
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.domain import contract

pytestmark = pytest.mark.integration

CSV = """record_id,given_name,family_name,date_of_birth,gender,nationality,phone,email,address,\
postcode,flags,owning_force
NHP-T-9,Ionuț,Căpraru,1969-07-30,male,RO,07700 900 999,,4 Mill Street,NN1 1AA,ocg_member,northamptonshire
NHP-T-10,Ana,Popa,1990-02-30,female,RO,,,,,,northamptonshire
"""


def test_imported_nominals_are_matched_and_a_tombstone_erases_them(kafka, worker, referral, tmp_path):
    path = tmp_path / "nominals.csv"
    path.write_text(CSV, encoding="utf-8")
    env = signed_in(settings_env(kafka), tmp_path / "session", "supervisor-1", "supervisor", "national")

    result = toex("nominals", "import", str(path), "--reason", "force load", env=env)
    assert result.returncode == 0, result.stderr
    assert "2 rows read: 2 created" in result.stdout and "2 published to toex.nominals" in result.stdout
    assert "nominals.csv:3: warning: date_of_birth" in result.stderr, "the impossible date is dropped, the row kept"
    again = toex("nominals", "import", str(path), "--reason", "force load", env=env)
    assert "0 created, 0 updated, 2 unchanged" in again.stdout and "0 published" in again.stdout

    producer = durable_producer(kafka.kafka_bootstrap)
    let_workers_follow_nominals()
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_MATCHES]) as matches:
        event = referral_about(referral, "imported", "Ionut", "CAPRARU", "+44 7700 900999")
        send(producer, contract.TOPIC_REFERRALS, event)
        mention_id = f"toex.referrals:{event['partner_id']}:{event['referral_id']}#0"
        # At least once: a partition read again after a heal repeats a result, and a repeat must agree.
        first = results_for(matches, {mention_id})[mention_id]
        assert {(r.decision, r.nominal_id) for r in first} == {("match", "NHP-T-9")}

        produce_and_wait(producer, contract.TOPIC_NOMINALS, b"NHP-T-9", None)  # the force withdraws the record
        let_workers_follow_nominals()
        erased = referral_about(referral, "erased", "Ionut", "CAPRARU", "+44 7700 900999")
        send(producer, contract.TOPIC_REFERRALS, erased)
        erased_id = f"toex.referrals:{erased['partner_id']}:{erased['referral_id']}#0"
        after = results_for(matches, {erased_id})[erased_id]
        assert after and all(r.nominal_id != "NHP-T-9" and r.provisional for r in after)


@pytest.fixture(scope="module")
def empty_broker(tmp_path_factory: pytest.TempPathFactory, kafka: Settings) -> Iterator[Settings]:
    """A second broker of its own, with no topics: the session broker has the worker's topics already."""
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                        data_dir=tmp_path_factory.mktemp("empty-broker"), cache_dir=kafka.cache_dir,
                        kafka_version=kafka.kafka_version)
    broker = LocalKafka(settings)
    try:
        broker.up()
    except Exception as exc:  # any failure to start is a test failure, with its reason
        pytest.fail(f"could not start the second Kafka broker: {exc}", pytrace=False)
    try:
        yield settings
    finally:
        broker.down()


def test_import_into_a_broker_without_topics_creates_them_as_the_worker_would(empty_broker, tmp_path):
    assert existing_topics(empty_broker.kafka_bootstrap) == set(), "the broker starts empty"
    path = tmp_path / "nominals.csv"
    path.write_text(CSV, encoding="utf-8")

    env = signed_in(settings_env(empty_broker), tmp_path / "session", "supervisor-1", "supervisor", "national")
    result = toex("nominals", "import", str(path), "--reason", "force load", env=env)

    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith(f"created {len(topics.ALL)} topics on {empty_broker.kafka_bootstrap}: ")
    assert contract.TOPIC_NOMINALS in first_line
    assert "2 published to toex.nominals" in result.stdout
    admin = AdminClient({"bootstrap.servers": empty_broker.kafka_bootstrap})
    on_broker = admin.list_topics(timeout=10).topics
    assert {name: len(on_broker[name].partitions) for name in on_broker} == {
        spec.name: spec.partitions for spec in topics.ALL
    }
    [described] = admin.describe_configs([ConfigResource("topic", contract.TOPIC_NOMINALS)]).values()
    assert described.result(timeout=10)["cleanup.policy"].value == "compact", "a tombstone must be able to erase"

    with TopicReader(empty_broker.kafka_bootstrap, [contract.TOPIC_NOMINALS], start="beginning") as reader:
        landed: dict[bytes, bytes] = {}
        deadline = time.monotonic() + 30
        while len(landed) < 2 and time.monotonic() < deadline:
            landed |= {message.key(): message.value() for message in reader.poll(timeout=1.0)}
    assert sorted(landed) == [b"NHP-T-10", b"NHP-T-9"]
    assert contract.Nominal.model_validate_json(landed[b"NHP-T-9"]).family_name == "Căpraru"

    again = toex("nominals", "import", str(path), "--reason", "force load", env=env)
    assert again.returncode == 0, again.stderr
    assert "topics on" not in again.stdout, "topics that exist are left as they are"
    assert "0 created, 0 updated, 2 unchanged" in again.stdout
