"""The suite's net for planted personal data in logs catches it in a message and in a logged exception."""

from __future__ import annotations

import logging

import pytest

from tests.canary_logs import _Catcher, leaks


@pytest.mark.logs_personal_data  # on purpose: the net must catch these
def test_a_planted_name_in_a_message_or_a_phone_in_an_exception_is_caught() -> None:
    catcher = _Catcher()
    log = logging.getLogger("toex_stream.somewhere")
    log.addHandler(catcher)
    try:
        log.warning("matched %s", "Réka Kovács")
        try:
            raise ValueError("bad phone 07700 900123")
        except ValueError:
            log.exception("could not normalise")
        log.warning("matched mention %s", "toex.referrals:p:R-1#0")
    finally:
        log.removeHandler(catcher)

    assert catcher.found == ["toex_stream.somewhere WARNING: carries ['Réka', 'Kovács']",
                             "toex_stream.somewhere ERROR: carries ['07700 900123']"]
    assert leaks("N-1 matched, p=0.98") == []
