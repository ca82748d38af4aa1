# A stand-in for prom/prometheus, for the compose test where no registry is
# reachable: Debian's Prometheus 2.42 with the official image's interface
# (the binary as entrypoint, its configuration in /etc/prometheus, data in
# /prometheus, the user nobody) and wget for the healthcheck, as there.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus=2.42.0+ds-5+deb12u1 wget=1.21.3-1+deb12u1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
VOLUME ["/prometheus"]
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
