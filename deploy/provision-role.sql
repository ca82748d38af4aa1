-- One service's login role and database, created when missing; the password
-- is (re)set every time. psql -v role=NAME -f provision-role.sql, with "\set pw PASSWORD"
-- first on its standard input (a password is never an argument ps shows).
-- Used by the native stack (deploy/local/postgres.sh) and compose's init job.
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'role') \gexec
-- Only its own role may connect to a service's database: no other service,
-- no other login role on the server (PUBLIC has CONNECT by default).
REVOKE CONNECT, TEMPORARY ON DATABASE :"role" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"role" TO :"role";
-- The read-only checker's role (provision-reader.sql), when there is one.
SELECT format('GRANT CONNECT ON DATABASE %I TO saga_reader', :'role')
 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'saga_reader') \gexec
-- A service role holds no predefined role (earlier stacks granted this one).
SELECT format('REVOKE pg_read_all_stats FROM %I', :'role')
 WHERE pg_has_role(:'role', 'pg_read_all_stats', 'MEMBER') \gexec
