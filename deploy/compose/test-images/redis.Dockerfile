# A stand-in for redis:7.0.15-bookworm, for the compose test where no
# registry is reachable: Debian's Redis 7.0.15, redis-server on the PATH,
# a non-root user redis, the data volume /data as the working directory.
# compose.yaml runs deploy/local/redis.sh from a mount (users and passwords
# from the environment), so nothing else of the image is used.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server=5:7.0.15-1~deb12u10 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /data && chown redis: /data
WORKDIR /data
USER redis
VOLUME ["/data"]
CMD ["redis-server"]
