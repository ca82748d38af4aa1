# A stand-in for postgres:15.20-bookworm, for the compose test where no
# registry is reachable: Debian's PostgreSQL 15.20 with an entrypoint that
# honours what compose.yaml uses of the official image's (POSTGRES_PASSWORD,
# POSTGRES_INITDB_ARGS, PGDATA, the scripts in /docker-entrypoint-initdb.d,
# arguments passed to postgres); see postgres-entrypoint.sh.
ARG BASE=saga-base:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15=15.20-0+deb12u1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
 && chown postgres: /var/lib/postgresql/data /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
COPY deploy/compose/test-images/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME ["/var/lib/postgresql/data"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
