# syncd in a container. docs/deploy.md: the volume, the config, secrets, the proxy, backups.
#   docker build -t syncd .
#   docker run -d --name syncd -p 127.0.0.1:8080:8080 -v syncd-data:/data \
#     -e DISCOURSE_URL=https://forum.example.edu -e DISCOURSE_API_KEY=... syncd
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNCD_CONFIG=/etc/syncd/config.yaml \
    SYNCD_DB=/data/syncd.db \
    SYNCD_MIGRATIONS=/app/migrations

# A dedicated user without a login; the database lives on the /data volume.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin syncd \
 && mkdir -p /data /etc/syncd \
 && chown syncd:syncd /data && chmod 0700 /data

WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY syncd ./syncd
COPY migrations ./migrations
RUN pip install --no-compile . && rm -rf /root/.cache

# The example config and rules: mount your own over /etc/syncd (read-only is fine).
COPY config.example.yaml /etc/syncd/config.yaml
COPY rules /etc/syncd/rules

USER syncd
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["syncd"]
CMD ["serve", "--host", "0.0.0.0"]
