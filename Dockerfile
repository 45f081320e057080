# Portrait: the worker, the simulator and the CLI in one image.
#   docker build -t portrait .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 -e REDIS_URL=redis://redis:6379/0 portrait worker
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams streams
COPY profiles profiles
COPY triggers triggers
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app portrait
COPY --from=build /install /usr/local
WORKDIR /app
USER 10001
ENV PYTHONUNBUFFERED=1 PORTRAIT_METRICS_PORT=9464
EXPOSE 9464
# /healthz (liveness) and /readyz (readiness) are served on the metrics port
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORTRAIT_METRICS_PORT','9464'), timeout=2)"
ENTRYPOINT ["portrait"]
CMD ["worker"]
