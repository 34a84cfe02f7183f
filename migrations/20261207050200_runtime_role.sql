-- The services connect as a login user that is a member of `halo_app`, a group role that
-- owns nothing. Migrations run as the owner of the schema (the role that created every
-- table, see deploy/README.md), so the running services cannot ALTER, DROP or TRUNCATE
-- any table, nor drop the triggers that keep the audit log and the ledger append-only.
--
-- `halo_app` may read and write every table and use every sequence, except:
--   - `audit_log`, `ledger_postings` and `ledger_transactions`: SELECT and INSERT only
--     (no UPDATE, DELETE or TRUNCATE, whatever becomes of their triggers);
--   - `_sqlx_migrations`: SELECT only (the services never migrate; RUN_MIGRATIONS stays
--     false in deploy/).
-- Tables and sequences created later by the same owner get the same grants through the
-- default privileges below. A later migration that adds an append-only table must
-- revoke UPDATE, DELETE (and TRUNCATE) on it from halo_app explicitly, as done here.

DO $$
BEGIN
    CREATE ROLE halo_app NOLOGIN;
EXCEPTION
    -- Roles are cluster-wide: another database of this cluster (or a concurrent
    -- migration of one) created it already.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO halo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO halo_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO halo_app;

ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO halo_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO halo_app;

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, ledger_postings, ledger_transactions FROM halo_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM halo_app;
