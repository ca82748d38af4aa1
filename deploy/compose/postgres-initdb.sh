# Sourced by the postgres image's entrypoint once, when it makes the data
# directory (/docker-entrypoint-initdb.d): the native stack's access rules
# (deploy/local/postgres.sh). Over TCP, with a password (SCRAM), each role
# reaches only the database of its own name (samerole); the superuser and
# the read-only saga_reader (where it has CONNECT) reach any.
cat >"$PGDATA/pg_hba.conf" <<'HBA'
local all      postgres    peer
host  all      postgres    all scram-sha-256
host  all      saga_reader all scram-sha-256
host  samerole all         all scram-sha-256
HBA
chmod 600 "$PGDATA/pg_hba.conf"
