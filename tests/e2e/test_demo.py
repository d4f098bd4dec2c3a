"""`toex-stream demo` as a new user runs it: its own broker, its own worker, Ctrl-C stops both."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp

from tests.conftest import ROOT, free_port
from toex_stream.adapters.kafka_io import port_open


async def signed_in_queue(base: str, name: str, password: str) -> str:
    """The queue page, signed in as ``name`` as a browser would (the sign-in form's CSRF token and cookie)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        form = await (await client.get(f"{base}/signin")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
        answer = await client.post(f"{base}/signin", data={"name": name, "password": password, "csrf_token": token})
        return await answer.text()


def test_demo_shows_each_outcome_and_ctrl_c_stops_everything_it_started(tmp_path):
    kafka_port = free_port()
    env = {
        **os.environ,
        "TOEX_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "TOEX_KAFKA_CONTROLLER_PORT": str(free_port()),
        "TOEX_DATA_DIR": str(tmp_path / "data"),
        "TOEX_WEB_PORT": str(free_port()),
        "TOEX_DASHBOARD_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-c", "from toex_stream.entry.cli import main; main()", "demo"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C" not in out.read_text() and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        text = out.read_text()
        assert "Ctrl-C" in text, text
        assert port_open("127.0.0.1", kafka_port), "the demo's broker runs while it watches"
        worker_pid = int(re.search(r"worker: started \(pid (\d+)\)", text).group(1))
        # The dashboard is up, and the demo user it printed sees the case in the queue.
        address = re.search(r"dashboard: (http://\S+)/ \(pid (\d+)", text)
        assert address, text
        dashboard_pid = int(address[2])
        name, password = re.search(r"sign in as (\S+) with the password (\S+) ", text).groups()
        queue = asyncio.run(signed_in_queue(address[1], name, password))
        assert "ROCUWM" in queue and 'href="/alerts/alert-' in queue, queue

        os.kill(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)

    text = out.read_text()
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 4}
    for example in ("advert.json", "intel.json", "referral.json"):
        assert "observation" in rows[example], text
    for broken, kind in (
        ("truncated JSON", "invalid_json"),
        ("age as a string", "schema"),
        ("unknown urgency", "schema"),
        ("not UTF-8", "not_utf8"),
    ):
        assert f"dead letter ({kind})" in rows[broken], text
    # The simulated case ran through the whole system and was checked against its ground truth.
    assert "events processed (observations)" in text and "network headdress: members alerted to ROCUWM" in text
    summary = next(line for line in text.splitlines() if "network headdress: members alerted" in line)
    alerted, members = (int(n) for n in re.findall(r"(\d+) of (\d+)", summary)[0])
    assert members > 0 and alerted > 0, summary
    assert "worker: stopped" in text and "kafka: stopped" in text and "dashboard: stopped" in text
    assert not os.path.exists(f"/proc/{dashboard_pid}") or "zombie" in open(f"/proc/{dashboard_pid}/status").read()
    assert not port_open("127.0.0.1", kafka_port), "Ctrl-C stopped the broker the demo started"
    assert not os.path.exists(f"/proc/{worker_pid}") or "zombie" in open(f"/proc/{worker_pid}/status").read().lower()
