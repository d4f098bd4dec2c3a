"""The fake chat API's outages, which the fault tests count on to fail real calls."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from tests.fake_slack import FakeSlack


def post(slack: FakeSlack) -> int:
    request = urllib.request.Request(slack.api_url + "chat.postMessage", data=json.dumps(
        {"channel": "#toex-emsou", "text": "x"}).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_an_outage_from_the_next_call_fails_that_call_however_late_it_comes_and_the_next_phase_follows() -> None:
    with FakeSlack() as slack:
        first = slack.fail_with(500, 60, from_next_call=True)
        then = slack.fail_with(429, 60, retry_after=1, after=first)
        time.sleep(0.2)
        assert first.start() is None and then.start() is None  # no call yet: nothing started
        assert post(slack) == 500
        assert first.start() == slack.calls[0].at and then.start() == first.start() + 60
        assert slack.failed_calls("chat.postMessage") and not slack.messages


def test_an_outage_from_now_ends_on_time() -> None:
    with FakeSlack() as slack:
        outage = slack.fail_with(500, 0.3)
        assert post(slack) == 500
        time.sleep(0.4)
        assert post(slack) == 200 and outage.end() is not None and outage.end() <= slack.calls[-1].at
