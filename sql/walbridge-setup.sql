-- Least-privilege set-up for WalBridge, run once by a database owner or superuser:
--
--   psql -v password="$WALBRIDGE_PASSWORD" -d auth -f sql/walbridge-setup.sql
--
-- What WalBridge needs and why:
--   LOGIN REPLICATION  open a replication connection, create and read its logical slot
--   CONNECT            on the source database
--   USAGE, SELECT      on the schema and the mapped tables only: `validate` checks the
--                      columns, and the initial table sync of a publication reads them
-- It needs no write access to any table, and no superuser.
--
-- The publication is created here, by the tables' owner, with a column list
-- (Postgres 15): `password_hash` is not in it, so it never leaves the database.
-- WalBridge can create the publication itself only when its role owns the tables.

\set ON_ERROR_STOP on

SELECT format('CREATE ROLE walbridge LOGIN REPLICATION PASSWORD %L', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walbridge') \gexec
SELECT format('ALTER ROLE walbridge LOGIN REPLICATION PASSWORD %L', :'password') \gexec

SELECT format('GRANT CONNECT ON DATABASE %I TO walbridge', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO walbridge;
GRANT SELECT ON public.users TO walbridge;

SELECT 'CREATE PUBLICATION walbridge FOR TABLE public.users (id, username, first_name, last_name, email)'
WHERE NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'walbridge') \gexec
