# A stand-in for apicurio/apicurio-registry:3.0.9, for the compose test where
# no registry is reachable: the same Apicurio Registry 3.0.9 (Maven Central's
# apicurio-registry-app tar.gz, fetched by deploy/local/registry.sh fetch
# before the build) where the official image keeps it (/deployments), on the
# Kafka stand-in's Java 17, with curl for deploy/local/registry.sh (mounted
# by compose.yaml, which runs it as the entrypoint).
ARG KAFKA_STAND_IN=saga-stand-in/kafka:local
FROM ${KAFKA_STAND_IN}
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && useradd --uid 1001 --no-create-home --shell /bin/bash registry
COPY .cache/apicurio-registry-3.0.9 /deployments
# The official image's user (compose.yaml names it too).
USER 1001
