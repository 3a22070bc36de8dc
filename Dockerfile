# momoshtrem: one process serving the WebDAV share, the REST API, the status page and metrics on port 4444,
# BitTorrent on 6881.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY momoshtrem ./momoshtrem
RUN pip install --no-cache-dir . \
    && useradd --system --uid 1000 --home-dir /data momoshtrem \
    && mkdir -p /data /config \
    && chown momoshtrem /data
COPY config.yaml /config/config.yaml

# Inside a container the server must listen beyond loopback; data lives in the volume.
ENV MOMOSHTREM_SERVER_HOST=0.0.0.0 \
    MOMOSHTREM_LIBRARY_DATABASE=/data/library.db \
    MOMOSHTREM_LIBRARY_PROBE_STORE_DIR=/data/probes \
    MOMOSHTREM_TORRENT_DATA_DIR=/data/torrents \
    MOMOSHTREM_SUBTITLES_DIR=/data/subtitles \
    MOMOSHTREM_TMDB_POSTER_DIR=/data/posters

USER momoshtrem
VOLUME ["/data"]
EXPOSE 4444 6881/tcp 6881/udp
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import http.client as h; c = h.HTTPConnection('127.0.0.1', 4444, timeout=4); c.request('GET', '/api/health'); raise SystemExit(c.getresponse().status not in (200, 401))"]
ENTRYPOINT ["momoshtrem"]
CMD ["serve", "-c", "/config/config.yaml"]
