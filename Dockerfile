# The toex-stream worker (and command line) for users who have Docker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TOEX_DATA_DIR=/var/lib/toex

WORKDIR /app
COPY pyproject.toml README.md ./
COPY toex_stream ./toex_stream
COPY streams ./streams
COPY schemas ./schemas
COPY examples ./examples
RUN pip install . \
    && useradd --system --home /var/lib/toex toex \
    && mkdir -p /var/lib/toex && chown toex /var/lib/toex

USER toex
VOLUME ["/var/lib/toex"]
EXPOSE 6066
ENTRYPOINT ["toex-stream"]
CMD ["worker"]
