# The compose stack's broker: Apache Kafka from Maven Central's jars (fetched
# by deploy/local/kafka.sh fetch before the build), run by the native
# stack's own script, so both have the same SASL/SCRAM, ACL and TLS set-up.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless kcat openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --home-dir /var/lib/saga --shell /usr/sbin/nologin kafka \
 && mkdir -p /var/lib/saga && chown kafka: /var/lib/saga
COPY .cache/kafka-3.9.1/lib /opt/saga/.cache/kafka-3.9.1/lib
COPY deploy/local/lib.sh deploy/local/kafka.sh /opt/saga/deploy/local/
COPY deploy/services.conf /opt/saga/deploy/
ENV RUN_DIR=/var/lib/saga KAFKA_PORT=9092 KAFKA_TLS_PORT=9094 KAFKA_CONTROLLER_PORT=9093 \
    KAFKA_LISTEN_HOST=0.0.0.0 KAFKA_ADVERTISED_HOST=kafka
USER kafka
CMD ["/opt/saga/deploy/local/kafka.sh", "run"]
