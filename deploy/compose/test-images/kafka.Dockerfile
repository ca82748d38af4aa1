# A stand-in for apache/kafka:3.9.1, for the compose test where no registry
# is reachable: the same Kafka 3.9.1 jars (from Maven Central, fetched by
# deploy/local/kafka.sh fetch before the build), laid out where the official
# image keeps them (/opt/kafka/libs), a JRE and bash, the same non-root user
# (appuser, uid 1000) and the same data volume. compose.yaml runs
# deploy/local/kafka.sh from a mount, so nothing else of the image is used.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless=17.0.21.1+2-1~deb12u1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && useradd --uid 1000 --home-dir /home/appuser --create-home --shell /bin/bash appuser \
 && mkdir -p /var/lib/kafka/data /opt/kafka \
 && chown appuser: /var/lib/kafka/data
COPY .cache/kafka-3.9.1/lib /opt/kafka/libs
USER appuser
VOLUME ["/var/lib/kafka/data"]
