# The compose stack's Redis: Debian's, with the native stack's users
# (deploy/local/redis.sh run): passwords from the environment.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/saga && chown redis: /var/lib/saga
COPY deploy/local/lib.sh deploy/local/redis.sh /opt/saga/deploy/local/
COPY deploy/services.conf /opt/saga/deploy/
ENV RUN_DIR=/var/lib/saga REDIS_PORT=6379 REDIS_LISTEN_HOST=0.0.0.0
USER redis
CMD ["/opt/saga/deploy/local/redis.sh", "run"]
