"""Child processes the command line starts and stops: the stream worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from toex_stream.adapters.settings import Settings, settings_env


def start_worker(settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m streams`` with ``settings``, its output appended to ``log_file``.

    It runs in its own process group so that a test or the demo can stop it,
    and anything it started, whatever state it is in.
    """
    return _start([sys.executable, "-m", "streams"], settings, log_file)


def start_dashboard(settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    """Start ``toex-stream dashboard serve`` with ``settings`` in its own process group, output to ``log_file``."""
    return _start([sys.executable, "-c", "from toex_stream.entry.cli import main; main()", "dashboard", "serve"],
                  settings, log_file)


def _start(command: list[str], settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, **settings_env(settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM the process group, wait, then SIGKILL it; return the exit code."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    # A Faust worker whose start failed can hang instead of exiting: make sure.
    _signal_group(process.pid, signal.SIGKILL)
    return process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
