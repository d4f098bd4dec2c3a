"""Replay: re-run a past range of input events through the live pipeline's core, in a sandbox.

:mod:`toex_stream.replay.core` is the pure pipeline (no Kafka, no Faust, no
database), :mod:`toex_stream.replay.compare` sets a replay against what the
live system recorded, :mod:`toex_stream.replay.kafka` reads the topics by
time, :mod:`toex_stream.replay.report` writes the report, and
:mod:`toex_stream.replay.cli` is the ``toex-stream replay`` command.
"""
