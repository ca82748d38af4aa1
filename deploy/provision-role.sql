-- One service's login role and database, created when missing; the password
-- is (re)set every time. psql -v role=NAME -v pw=PASSWORD -f provision-role.sql
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
