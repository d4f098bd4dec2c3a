"""Replay: re-run a past range of input events through the live pipeline's core, in a sandbox.

:mod:`toex_stream.application.replay.core` runs the steps of :mod:`toex_stream.domain.pipeline`,
as the agents do, with no Kafka, Faust or database;
:mod:`toex_stream.application.replay.sandbox` builds the models and configuration it runs
with; :mod:`toex_stream.application.replay.run` runs one replay from start to finish;
:mod:`toex_stream.application.replay.compare` sets a replay against what the live system
recorded; :mod:`toex_stream.application.replay.kafka` reads the topics by time;
:mod:`toex_stream.application.replay.report` writes the report; :mod:`toex_stream.adapters.sql.replay_audit`
keeps who replayed what and why; and :mod:`toex_stream.entry.replay_cli` is the
``toex-stream replay`` command.
"""
