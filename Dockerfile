# Retail Pulse dashboard: the same app as ./start.sh, as a non-root container.
#   docker build -t retail-pulse .
#   docker run -p 8501:8501 -e RETAIL_PULSE_COOKIE_KEY=... -v rp-data:/app/warehouse retail-pulse
# With no warehouse in the volume, the app builds the demo warehouse on first start.
# Pinned to Debian 12 (bookworm): Debian 13, which the bare python:3.11-slim tag now follows,
# has no openjdk-17-jre-headless.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RETAIL_PULSE_WAREHOUSE=/app/warehouse/retail_pulse.duckdb \
    RETAIL_PULSE_CREDENTIALS=/app/warehouse/credentials.yaml

# curl for the health check; Java only for the optional Spark backend (RETAIL_PULSE_BACKEND=spark).
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code belongs to root and is read-only for the runtime user; only the data volume is theirs.
COPY . .
RUN useradd --create-home --uid 10001 retailpulse \
 && mkdir -p /app/warehouse && chown retailpulse:retailpulse /app/warehouse && chmod 0700 /app/warehouse \
 && chmod -R a-w /app/dashboard /app/data /app/analytics /app/models /app/.streamlit

USER retailpulse
VOLUME ["/app/warehouse"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl --fail --silent http://localhost:8501/_stcore/health || exit 1

CMD ["python", "-m", "streamlit", "run", "dashboard/serve.py", "--server.address=0.0.0.0", "--server.port=8501"]
