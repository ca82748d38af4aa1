-- The read-only login role of the invariant checker and the load tests'
-- statistics (saga_reader): it reads every table and the statistics views
-- and writes nothing. psql -f provision-reader.sql with "\set pw PASSWORD" first
-- on its standard input, before
-- provision-role.sql grants it CONNECT on each service's database.
SELECT 'CREATE ROLE saga_reader LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'saga_reader') \gexec
ALTER ROLE saga_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  PASSWORD :'pw';
ALTER ROLE saga_reader SET default_transaction_read_only = on;
GRANT pg_read_all_data, pg_read_all_stats TO saga_reader;
