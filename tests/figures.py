"""What a test reports beside its verdict (a short benchmark's JSON, where its screenshots are), on a logger.

At INFO, so pytest keeps it with a failure's report, and shows it as the
test runs with ``--log-cli-level=INFO``. Figures and paths only: the canary
for planted personal data reads these records too.
"""

from __future__ import annotations

import logging

figures = logging.getLogger("tests.figures")
figures.setLevel(logging.INFO)  # the root logger's WARNING would drop them before pytest's handler sees them
