"""Entry points: the ``toex-stream`` command line (one module per command group) and the partner web app."""
