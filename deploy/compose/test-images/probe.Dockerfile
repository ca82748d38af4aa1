# The compose test's own client inside the compose network (not a stand-in):
# kcat and redis-cli, to check that the broker and Redis refuse what they must.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends kcat=1.7.1-2 redis-tools=5:7.0.15-1~deb12u10 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && useradd --uid 10003 --no-create-home --shell /usr/sbin/nologin probe
USER probe
