# The compose stack's PostgreSQL 15: Debian's, with the native stack's rules
# (a role per database, samerole, a read-only saga_reader); see postgres-run.sh.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/saga/postgres && chown -R postgres: /var/lib/saga
COPY deploy/compose/postgres-run.sh /usr/local/bin/saga-postgres
ENV PGDATA=/var/lib/saga/postgres/data
USER postgres
CMD ["saga-postgres"]
