-- Rolecall database side: removes what install.sql created. Safe to run again.
--
--   psql "host=... dbname=... user=..." -v ON_ERROR_STOP=1 -f sql/postgres/uninstall.sql
--
-- Logins Rolecall created are NOT dropped (they may own tables or hold grants
-- an admin gave them): each ends NOLOGIN and without the group roles Rolecall
-- granted. Drop them yourself if you want them gone. rolecall_owner,
-- rolecall_sync and rolecall_broker are dropped unless something still depends on them (for
-- example Rolecall installed in another database of the same server): then a
-- NOTICE says so and they stay.

BEGIN;

DO $uninstall_logins$
DECLARE
  v_count integer;
BEGIN
  IF pg_catalog.to_regprocedure('rolecall._release_all_logins()') IS NOT NULL THEN
    v_count := rolecall._release_all_logins();
    RAISE NOTICE 'rolecall: % managed login(s) set NOLOGIN and stripped of Rolecall grants; they were not dropped', v_count;
  END IF;
END
$uninstall_logins$;

DROP SCHEMA IF EXISTS rolecall CASCADE;

DO $uninstall_roles$
DECLARE
  v_role text;
BEGIN
  FOREACH v_role IN ARRAY ARRAY['rolecall_sync', 'rolecall_broker', 'rolecall_owner'] LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
      BEGIN
        EXECUTE pg_catalog.format('DROP ROLE %I', v_role);
      EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
        RAISE NOTICE 'rolecall: role % kept: %', v_role, SQLERRM;
      END;
    END IF;
  END LOOP;
END
$uninstall_roles$;

COMMIT;
