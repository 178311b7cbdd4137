-- Rolecall database side: installs (or upgrades in place) the rolecall schema.
--
-- Run once per database as a superuser, or on Amazon RDS / Aurora as the
-- master user (rds_superuser):
--   psql "host=... dbname=... user=..." -v ON_ERROR_STOP=1 -f sql/postgres/install.sql
-- Safe to run again: every step checks what is already there. It never changes
-- the LOGIN flag or password of an existing rolecall_sync. See README.md.
--
-- Works on PostgreSQL 15 and later, including the PostgreSQL 16+ rules where a
-- CREATEROLE role needs ADMIN OPTION on a role to grant or alter it. Nothing in
-- the functions relies on superuser: they run as rolecall_owner (NOLOGIN,
-- CREATEROLE, never superuser).

BEGIN;
SET LOCAL client_min_messages = warning;

-- Roles -----------------------------------------------------------------------

DO $install_roles$
DECLARE
  v_me pg_catalog.pg_roles%ROWTYPE;
BEGIN
  SELECT * INTO v_me FROM pg_catalog.pg_roles WHERE rolname = current_user;
  IF NOT (v_me.rolsuper OR v_me.rolcreaterole) THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'install.sql must be run by a superuser or, on Amazon RDS, by the master user (rds_superuser)';
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rolecall_owner') THEN
    CREATE ROLE rolecall_owner NOLOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT;
  ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rolecall_owner'
                AND (rolcanlogin OR NOT rolcreaterole OR rolsuper OR rolreplication OR rolbypassrls)) THEN
    ALTER ROLE rolecall_owner NOLOGIN CREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS;
  END IF;

  -- Created NOLOGIN; the admin enables it with ALTER ROLE rolecall_sync LOGIN PASSWORD '...'.
  -- An existing rolecall_sync is left exactly as it is.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rolecall_sync') THEN
    CREATE ROLE rolecall_sync NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
  END IF;

  -- A non-superuser installer (RDS) must be able to SET ROLE rolecall_owner to
  -- hand it the schema; on PostgreSQL 16+ creating the role gave ADMIN OPTION only.
  IF NOT v_me.rolsuper THEN
    IF pg_catalog.current_setting('server_version_num')::integer >= 160000 THEN
      IF NOT pg_catalog.pg_has_role(current_user, 'rolecall_owner', 'SET') THEN
        EXECUTE 'GRANT rolecall_owner TO CURRENT_USER WITH INHERIT TRUE, SET TRUE';
      END IF;
    ELSIF NOT pg_catalog.pg_has_role(current_user, 'rolecall_owner', 'MEMBER') THEN
      GRANT rolecall_owner TO CURRENT_USER;
    END IF;
  END IF;
END
$install_roles$;

-- The SCRAM verifier is a parameter of rolecall.sync_login: keep the sync
-- account's statements and parameters out of the server log, even where
-- log_statement = 'all' or log_min_duration_statement is set server-wide.
DO $quiet_sync_log$
BEGIN
  ALTER ROLE rolecall_sync SET log_statement = 'none';
  ALTER ROLE rolecall_sync SET log_min_duration_statement = -1;
  ALTER ROLE rolecall_sync SET log_parameter_max_length = 0;
  ALTER ROLE rolecall_sync SET log_parameter_max_length_on_error = 0;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'could not turn statement logging off for rolecall_sync (%): with log_statement=all the server log will show SCRAM verifiers (never passwords)', SQLERRM;
END
$quiet_sync_log$;

CREATE SCHEMA IF NOT EXISTS rolecall AUTHORIZATION rolecall_owner;
ALTER SCHEMA rolecall OWNER TO rolecall_owner;
REVOKE ALL ON SCHEMA rolecall FROM PUBLIC;
GRANT USAGE ON SCHEMA rolecall TO rolecall_sync;

-- Everything below is created by (and so owned by) rolecall_owner.
SET LOCAL ROLE rolecall_owner;

-- Tables ----------------------------------------------------------------------

-- Logins Rolecall created. It never touches a role that is not listed here with
-- the same oid (an admin-made role that later takes a dropped login's name stays
-- unmanaged).
CREATE TABLE IF NOT EXISTS rolecall.managed_login (
  login        text PRIMARY KEY,
  role_oid     oid NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
  last_sync_at timestamptz
);

-- The allow-list: directory group (compared case-insensitively) -> database role.
CREATE TABLE IF NOT EXISTS rolecall.group_role (
  group_name text NOT NULL CHECK (pg_catalog.btrim(group_name) <> ''),
  role_name  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX IF NOT EXISTS group_role_unique
  ON rolecall.group_role (pg_catalog.lower(group_name), role_name);

CREATE TABLE IF NOT EXISTS rolecall.audit (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at              timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  action          text NOT NULL,
  login           text,
  groups          text[],
  granted         text[],
  revoked         text[],
  outcome         text NOT NULL,
  message         text,
  client_addr     inet DEFAULT pg_catalog.inet_client_addr(),
  db_session_user text NOT NULL DEFAULT session_user,
  client_info     jsonb
);
CREATE INDEX IF NOT EXISTS audit_login_at ON rolecall.audit (login, at);

REVOKE ALL ON ALL TABLES IN SCHEMA rolecall FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA rolecall FROM PUBLIC;

-- Internal helpers (not callable by rolecall_sync) -----------------------------

-- Why a name may never be managed or granted, or NULL when it may.
CREATE OR REPLACE FUNCTION rolecall._name_refusal(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE
    WHEN p_name IS NULL OR p_name = '' THEN 'the role name is empty'
    WHEN pg_catalog.octet_length(p_name) > 63 THEN 'the role name is longer than 63 bytes'
    WHEN p_name ~ '[[:cntrl:]]' THEN 'the role name contains control characters'
    WHEN pg_catalog.lower(p_name) LIKE 'pg\_%' THEN 'names starting with pg_ are reserved'
    WHEN pg_catalog.lower(p_name) LIKE 'rds%' THEN 'names starting with rds are reserved'
    WHEN pg_catalog.lower(p_name) LIKE 'rolecall\_%' THEN 'names starting with rolecall_ are reserved'
    WHEN pg_catalog.lower(p_name) IN ('postgres', 'public', 'none', 'all', 'current_user', 'current_role', 'session_user')
      THEN 'the role name is reserved'
    ELSE NULL
  END
$fn$;

-- Why an existing role may not be touched because of its attributes, or NULL.
CREATE OR REPLACE FUNCTION rolecall._attribute_refusal(p_oid oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE
    WHEN r.rolsuper THEN 'it is a superuser'
    WHEN r.rolcreaterole THEN 'it has CREATEROLE'
    WHEN r.rolreplication THEN 'it has REPLICATION'
    WHEN r.rolbypassrls THEN 'it has BYPASSRLS'
    ELSE NULL
  END
  FROM pg_catalog.pg_roles r WHERE r.oid = p_oid
$fn$;

-- Why a role may not be handed out as a group role, or NULL. Besides the name
-- and attribute rules, it must not be a Rolecall login and must not (even
-- through nested membership) carry a powerful role.
CREATE OR REPLACE FUNCTION rolecall._group_refusal(p_oid oid) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_name text;
  v_reason text;
  v_parent text;
BEGIN
  SELECT r.rolname INTO v_name FROM pg_catalog.pg_roles r WHERE r.oid = p_oid;
  IF NOT FOUND THEN
    RETURN 'the role does not exist';
  END IF;
  v_reason := coalesce(rolecall._name_refusal(v_name), rolecall._attribute_refusal(p_oid));
  IF v_reason IS NOT NULL THEN
    RETURN v_reason;
  END IF;
  IF EXISTS (SELECT 1 FROM rolecall.managed_login m WHERE m.role_oid = p_oid) THEN
    RETURN 'it is a login managed by Rolecall';
  END IF;
  WITH RECURSIVE up(oid) AS (
    SELECT a.roleid FROM pg_catalog.pg_auth_members a WHERE a.member = p_oid
    UNION
    SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN up ON a.member = up.oid
  )
  SELECT r.rolname INTO v_parent
  FROM up JOIN pg_catalog.pg_roles r ON r.oid = up.oid
  WHERE r.rolsuper OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls
     OR pg_catalog.lower(r.rolname) LIKE 'rds%'
     OR pg_catalog.lower(r.rolname) LIKE 'rolecall\_%'
     OR r.rolname IN ('pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files')
  LIMIT 1;
  IF v_parent IS NOT NULL THEN
    RETURN pg_catalog.format('it is a member of the protected role %s', v_parent);
  END IF;
  RETURN NULL;
END
$fn$;

-- True only for a well-formed SCRAM-SHA-256 verifier. Anything else would be
-- hashed by PostgreSQL as a plaintext password (and could reach its logs).
CREATE OR REPLACE FUNCTION rolecall._is_scram_verifier(p_value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  m text[];
BEGIN
  m := pg_catalog.regexp_match(p_value,
    '^SCRAM-SHA-256\$([0-9]{1,8}):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$');
  IF m IS NULL THEN
    RETURN false;
  END IF;
  RETURN m[1]::integer >= 1
     AND pg_catalog.octet_length(pg_catalog.decode(m[2], 'base64')) >= 1
     AND pg_catalog.octet_length(pg_catalog.decode(m[3], 'base64')) = 32
     AND pg_catalog.octet_length(pg_catalog.decode(m[4], 'base64')) = 32;
EXCEPTION WHEN OTHERS THEN
  RETURN false; -- not valid base64
END
$fn$;

-- The one place that decides what a sync would do: sync_login applies it,
-- preview_sync shows it.
CREATE OR REPLACE FUNCTION rolecall._plan(p_login text, p_groups text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_refusal text;
  v_oid oid;
  v_managed boolean := false;
  v_owner oid;
  v_pg16 boolean := pg_catalog.current_setting('server_version_num')::integer >= 160000;
  v_groups text[];
  v_wanted text[];
  v_skipped text[];
  v_current text[];
BEGIN
  v_refusal := rolecall._name_refusal(p_login);
  IF v_refusal IS NULL THEN
    SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_login;
    IF v_oid IS NOT NULL THEN
      v_managed := EXISTS (SELECT 1 FROM rolecall.managed_login m WHERE m.login = p_login AND m.role_oid = v_oid);
      IF NOT v_managed THEN
        v_refusal := 'the role exists and was not created by Rolecall';
      ELSE
        v_refusal := rolecall._attribute_refusal(v_oid);
      END IF;
    END IF;
  END IF;

  SELECT r.oid INTO v_owner FROM pg_catalog.pg_roles r WHERE r.rolname = 'rolecall_owner';
  SELECT coalesce(pg_catalog.array_agg(DISTINCT pg_catalog.lower(g)), '{}') INTO v_groups
  FROM pg_catalog.unnest(coalesce(p_groups, '{}'::text[])) AS g WHERE g IS NOT NULL;

  -- Allow-listed roles for these groups that exist, are not protected and that
  -- the owner can grant (PostgreSQL 16+: ADMIN OPTION given by allow_group).
  WITH candidate AS (
    SELECT DISTINCT r.oid, r.rolname::text AS name,
           rolecall._group_refusal(r.oid) IS NULL
           AND (NOT v_pg16 OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a
                                      WHERE a.roleid = r.oid AND a.member = v_owner AND a.admin_option)) AS usable
    FROM rolecall.group_role gr
    JOIN pg_catalog.pg_roles r ON r.rolname = gr.role_name
    WHERE pg_catalog.lower(gr.group_name) = ANY (v_groups)
  )
  SELECT coalesce(pg_catalog.array_agg(name ORDER BY name COLLATE "C") FILTER (WHERE usable), '{}'),
         coalesce(pg_catalog.array_agg(name ORDER BY name COLLATE "C") FILTER (WHERE NOT usable), '{}')
  INTO v_wanted, v_skipped FROM candidate;

  -- Allow-listed roles the login holds now (only those are ever revoked).
  IF v_oid IS NOT NULL THEN
    SELECT coalesce(pg_catalog.array_agg(r.rolname::text ORDER BY r.rolname::text COLLATE "C"), '{}')
    INTO v_current
    FROM pg_catalog.pg_roles r
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a WHERE a.member = v_oid AND a.roleid = r.oid)
      AND EXISTS (SELECT 1 FROM rolecall.group_role gr WHERE gr.role_name = r.rolname)
      AND rolecall._group_refusal(r.oid) IS NULL;
  ELSE
    v_current := '{}';
  END IF;

  RETURN pg_catalog.jsonb_build_object(
    'login', p_login,
    'refused', v_refusal,
    'exists', v_oid IS NOT NULL,
    'managed', v_managed,
    'oid', v_oid,
    'wanted', pg_catalog.to_jsonb(v_wanted),
    'current', pg_catalog.to_jsonb(v_current),
    'grant', pg_catalog.to_jsonb(ARRAY(SELECT x FROM pg_catalog.unnest(v_wanted) x WHERE x <> ALL (v_current) ORDER BY x COLLATE "C")),
    'revoke', pg_catalog.to_jsonb(ARRAY(SELECT x FROM pg_catalog.unnest(v_current) x WHERE x <> ALL (v_wanted) ORDER BY x COLLATE "C")),
    'skipped', pg_catalog.to_jsonb(v_skipped)
  );
END
$fn$;

CREATE OR REPLACE FUNCTION rolecall._text_array(p jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT coalesce(pg_catalog.array_agg(x ORDER BY o), '{}') FROM pg_catalog.jsonb_array_elements_text(p) WITH ORDINALITY AS t(x, o)
$fn$;

CREATE OR REPLACE FUNCTION rolecall._refuse(p_login text, p_reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '42501',
    MESSAGE = pg_catalog.format('Rolecall refuses to manage role "%s": %s', p_login, p_reason),
    HINT = 'Rolecall only manages logins it created; protected and reserved roles are never touched.';
END
$fn$;

CREATE OR REPLACE FUNCTION rolecall._audit(
  p_action text, p_login text, p_groups text[], p_granted text[], p_revoked text[],
  p_outcome text, p_message text, p_client_info jsonb
) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $fn$
  INSERT INTO rolecall.audit (action, login, groups, granted, revoked, outcome, message, client_info)
  VALUES (p_action, p_login, p_groups, p_granted, p_revoked, p_outcome,
          pg_catalog.left(p_message, 1000),
          CASE WHEN p_client_info IS NULL THEN NULL
               WHEN pg_catalog.octet_length(p_client_info::text) > 4096 THEN '{"truncated": true}'::jsonb
               ELSE p_client_info END)
$fn$;

-- Revokes the given allow-listed roles from a login (runs as the owner, which
-- is the grantor of every membership Rolecall made).
CREATE OR REPLACE FUNCTION rolecall._revoke_roles(p_login text, p_roles text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_role text;
BEGIN
  FOREACH v_role IN ARRAY coalesce(p_roles, '{}'::text[]) LOOP
    EXECUTE pg_catalog.format('REVOKE %I FROM %I', v_role, p_login);
  END LOOP;
END
$fn$;

-- Public API (EXECUTE granted to rolecall_sync) ---------------------------------

CREATE OR REPLACE FUNCTION rolecall.version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$ SELECT '1'::text $fn$;

CREATE OR REPLACE FUNCTION rolecall.sync_login(
  p_login text, p_verifier text, p_groups text[], p_valid_for interval, p_client_info jsonb DEFAULT '{}'::jsonb
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_plan jsonb;
  v_groups text[] := coalesce(p_groups, '{}'::text[]);
  v_grant text[];
  v_revoke text[];
  v_role text;
  v_until text;
  v_created boolean := false;
  v_result jsonb;
BEGIN
  IF rolecall._name_refusal(p_login) IS NOT NULL THEN
    PERFORM rolecall._refuse(p_login, rolecall._name_refusal(p_login));
  END IF;
  -- Never echo the value: it may be a plaintext password sent by mistake.
  IF p_verifier IS NULL OR NOT rolecall._is_scram_verifier(p_verifier) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = 'p_verifier must be a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>); a plaintext password is never accepted';
  END IF;
  IF p_valid_for IS NULL OR p_valid_for <= interval '0' OR p_valid_for > interval '366 days' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'p_valid_for must be a positive interval of at most 366 days';
  END IF;

  -- Serializes syncs of the same login: concurrent first connections create one role.
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('rolecall.login:' || p_login, 0));

  v_plan := rolecall._plan(p_login, v_groups);
  IF v_plan->>'refused' IS NOT NULL THEN
    PERFORM rolecall._refuse(p_login, v_plan->>'refused');
  END IF;
  IF NOT (v_plan->>'exists')::boolean THEN
    DELETE FROM rolecall.managed_login WHERE login = p_login; -- a login the admin dropped
  END IF;

  v_revoke := rolecall._text_array(v_plan->'revoke');
  IF pg_catalog.jsonb_array_length(v_plan->'wanted') = 0 THEN
    -- No group maps to an allow-listed role: take away what Rolecall gave.
    -- Reported in the result (not raised) so the revocation is not rolled back.
    IF (v_plan->>'managed')::boolean THEN
      PERFORM rolecall._revoke_roles(p_login, v_revoke);
      EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', p_login);
    END IF;
    PERFORM rolecall._audit('sync', p_login, v_groups, '{}', v_revoke, 'no-roles',
      'none of the groups maps to an allowed database role', p_client_info);
    RETURN pg_catalog.jsonb_build_object(
      'created', false, 'denied', true, 'granted', '[]'::jsonb, 'revoked', pg_catalog.to_jsonb(v_revoke),
      'roles', '[]'::jsonb, 'skipped', v_plan->'skipped',
      'message', pg_catalog.format('none of the directory groups of "%s" maps to a database role allowed by rolecall.group_role', p_login));
  END IF;

  v_until := pg_catalog.to_char((pg_catalog.now() + p_valid_for) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
  IF (v_plan->>'exists')::boolean THEN
    EXECUTE pg_catalog.format('ALTER ROLE %I WITH LOGIN PASSWORD %L VALID UNTIL %L', p_login, p_verifier, v_until);
  ELSE
    EXECUTE pg_catalog.format(
      'CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD %L VALID UNTIL %L',
      p_login, p_verifier, v_until);
    INSERT INTO rolecall.managed_login (login, role_oid)
    SELECT p_login, r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_login;
    v_created := true;
  END IF;

  v_grant := rolecall._text_array(v_plan->'grant');
  FOREACH v_role IN ARRAY v_grant LOOP
    EXECUTE pg_catalog.format('GRANT %I TO %I GRANTED BY CURRENT_USER', v_role, p_login);
  END LOOP;
  PERFORM rolecall._revoke_roles(p_login, v_revoke);
  UPDATE rolecall.managed_login SET last_sync_at = pg_catalog.now() WHERE login = p_login;

  PERFORM rolecall._audit('sync', p_login, v_groups, v_grant, v_revoke,
    CASE WHEN v_created THEN 'created' ELSE 'updated' END, NULL, p_client_info);
  v_result := pg_catalog.jsonb_build_object(
    'created', v_created, 'denied', false,
    'granted', pg_catalog.to_jsonb(v_grant), 'revoked', pg_catalog.to_jsonb(v_revoke),
    'roles', v_plan->'wanted', 'skipped', v_plan->'skipped', 'valid_until', v_until);
  RETURN v_result;
END
$fn$;

CREATE OR REPLACE FUNCTION rolecall.revoke_login(p_login text, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_plan jsonb;
  v_revoke text[];
  v_terminated integer;
  v_pid integer;
  v_message text := p_reason;
BEGIN
  IF rolecall._name_refusal(p_login) IS NOT NULL THEN
    PERFORM rolecall._refuse(p_login, rolecall._name_refusal(p_login));
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('rolecall.login:' || p_login, 0));

  v_plan := rolecall._plan(p_login, '{}');
  IF v_plan->>'refused' IS NOT NULL THEN
    PERFORM rolecall._refuse(p_login, v_plan->>'refused');
  END IF;
  IF NOT (v_plan->>'exists')::boolean THEN
    DELETE FROM rolecall.managed_login WHERE login = p_login;
    PERFORM rolecall._audit('revoke', p_login, NULL, '{}', '{}', 'absent', p_reason, NULL);
    RETURN pg_catalog.jsonb_build_object('existed', false, 'revoked', '[]'::jsonb, 'terminated', 0);
  END IF;

  v_revoke := rolecall._text_array(v_plan->'current');
  PERFORM rolecall._revoke_roles(p_login, v_revoke);
  EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', p_login);

  -- One backend at a time, in a loop: a single query with pg_terminate_backend()
  -- in its WHERE clause could call it before the filter on the role.
  v_terminated := 0;
  BEGIN
    FOR v_pid IN
      SELECT a.pid FROM pg_catalog.pg_stat_activity a
      WHERE a.usesysid = (v_plan->>'oid')::oid AND a.pid <> pg_catalog.pg_backend_pid()
    LOOP
      IF pg_catalog.pg_terminate_backend(v_pid) THEN
        v_terminated := v_terminated + 1;
      END IF;
    END LOOP;
  EXCEPTION WHEN insufficient_privilege THEN
    -- The role change stands; only ending open sessions failed (see README: pg_signal_backend).
    v_terminated := NULL;
    v_message := pg_catalog.concat_ws('; ', p_reason, 'could not end open sessions: ' || SQLERRM);
  END;

  PERFORM rolecall._audit('revoke', p_login, NULL, '{}', v_revoke, 'revoked', v_message, NULL);
  RETURN pg_catalog.jsonb_build_object('existed', true, 'revoked', pg_catalog.to_jsonb(v_revoke), 'terminated', v_terminated);
END
$fn$;

-- Dry run: what sync_login would do for these groups. Changes nothing.
CREATE OR REPLACE FUNCTION rolecall.preview_sync(p_login text, p_groups text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_plan jsonb := rolecall._plan(p_login, p_groups);
  v_denied boolean := pg_catalog.jsonb_array_length(v_plan->'wanted') = 0;
BEGIN
  RETURN pg_catalog.jsonb_build_object(
    'refused', v_plan->'refused',
    'exists', v_plan->'exists',
    'managed', v_plan->'managed',
    'denied', v_denied,
    'created', NOT (v_plan->>'exists')::boolean AND NOT v_denied AND v_plan->>'refused' IS NULL,
    'granted', CASE WHEN v_denied THEN '[]'::jsonb ELSE v_plan->'grant' END,
    'revoked', CASE WHEN v_denied THEN v_plan->'current' ELSE v_plan->'revoke' END,
    'roles', v_plan->'wanted',
    'skipped', v_plan->'skipped');
END
$fn$;

-- Admin helpers (run by the admin as themselves; not callable by rolecall_sync) --

CREATE OR REPLACE FUNCTION rolecall.allow_group(group_name text, role_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_oid oid;
  v_reason text;
BEGIN
  IF allow_group.group_name IS NULL OR pg_catalog.btrim(allow_group.group_name) = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_name must not be empty';
  END IF;
  v_reason := rolecall._name_refusal(allow_group.role_name);
  IF v_reason IS NULL THEN
    SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = allow_group.role_name;
    IF v_oid IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '42704',
        MESSAGE = pg_catalog.format('role "%s" does not exist: create it first (CREATE ROLE %I NOLOGIN)', allow_group.role_name, allow_group.role_name);
    END IF;
    v_reason := rolecall._group_refusal(v_oid);
  END IF;
  IF v_reason IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = pg_catalog.format('Rolecall refuses to grant role "%s": %s', allow_group.role_name, v_reason);
  END IF;

  -- PostgreSQL 16+: the owner needs ADMIN OPTION to grant the role, and must
  -- never use the role's privileges itself.
  IF pg_catalog.current_setting('server_version_num')::integer >= 160000 THEN
    EXECUTE pg_catalog.format('GRANT %I TO rolecall_owner WITH ADMIN TRUE, INHERIT FALSE, SET FALSE', allow_group.role_name);
  END IF;
  INSERT INTO rolecall.group_role (group_name, role_name)
  VALUES (allow_group.group_name, allow_group.role_name) ON CONFLICT DO NOTHING;
  PERFORM rolecall._audit('allow_group', NULL, ARRAY[allow_group.group_name], ARRAY[allow_group.role_name]::text[], '{}', 'ok', NULL, NULL);
END
$fn$;

-- Removes a mapping. When no group maps to the role any more, Rolecall takes it
-- back from its logins (it would otherwise never revoke it again) and gives up
-- its ADMIN OPTION.
CREATE OR REPLACE FUNCTION rolecall.disallow_group(group_name text, role_name text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_removed integer;
  v_logins text[] := '{}';
BEGIN
  DELETE FROM rolecall.group_role gr
  WHERE pg_catalog.lower(gr.group_name) = pg_catalog.lower(disallow_group.group_name)
    AND gr.role_name = disallow_group.role_name;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  IF NOT EXISTS (SELECT 1 FROM rolecall.group_role gr WHERE gr.role_name = disallow_group.role_name)
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = disallow_group.role_name) THEN
    v_logins := rolecall._release_role(disallow_group.role_name);
    -- Given to the owner by allow_group (as the admin), so revoked as the admin.
    IF pg_catalog.current_setting('server_version_num')::integer >= 160000
       AND pg_catalog.pg_has_role('rolecall_owner', disallow_group.role_name, 'MEMBER') THEN
      EXECUTE pg_catalog.format('REVOKE %I FROM rolecall_owner', disallow_group.role_name);
    END IF;
  END IF;
  PERFORM rolecall._audit('disallow_group', NULL, ARRAY[disallow_group.group_name], '{}', ARRAY[disallow_group.role_name]::text[],
    CASE WHEN v_removed > 0 THEN 'ok' ELSE 'absent' END, NULL, NULL);
  RETURN pg_catalog.jsonb_build_object('removed', v_removed > 0, 'revoked_from', pg_catalog.to_jsonb(v_logins));
END
$fn$;

-- Runs as the owner (the grantor of Rolecall's memberships): revokes a role
-- from every managed login.
CREATE OR REPLACE FUNCTION rolecall._release_role(p_role text) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_logins text[];
  v_login text;
BEGIN
  SELECT coalesce(pg_catalog.array_agg(DISTINCT m.login ORDER BY m.login), '{}') INTO v_logins
  FROM rolecall.managed_login m
  JOIN pg_catalog.pg_roles l ON l.oid = m.role_oid AND l.rolname = m.login
  JOIN pg_catalog.pg_auth_members a ON a.member = l.oid
  JOIN pg_catalog.pg_roles r ON r.oid = a.roleid AND r.rolname = p_role;
  FOREACH v_login IN ARRAY v_logins LOOP
    EXECUTE pg_catalog.format('REVOKE %I FROM %I', p_role, v_login);
  END LOOP;
  RETURN v_logins;
END
$fn$;

-- Used by uninstall.sql: every managed login ends NOLOGIN and without the roles
-- Rolecall granted. The logins themselves stay (they may own objects).
CREATE OR REPLACE FUNCTION rolecall._release_all_logins() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v_login text;
  v_count integer := 0;
BEGIN
  FOR v_login IN
    SELECT m.login FROM rolecall.managed_login m
    JOIN pg_catalog.pg_roles l ON l.oid = m.role_oid AND l.rolname = m.login
    WHERE rolecall._attribute_refusal(l.oid) IS NULL
  LOOP
    PERFORM rolecall._revoke_roles(v_login, rolecall._text_array(rolecall._plan(v_login, '{}')->'current'));
    EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', v_login);
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END
$fn$;

-- Privileges --------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rolecall FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  rolecall.version(),
  rolecall.sync_login(text, text, text[], interval, jsonb),
  rolecall.revoke_login(text, text),
  rolecall.preview_sync(text, text[])
TO rolecall_sync;

RESET ROLE;

-- revoke_login ends the sessions of a revoked login: the owner needs
-- pg_signal_backend for that (it never signals superuser sessions).
DO $install_signal$
BEGIN
  IF NOT pg_catalog.pg_has_role('rolecall_owner', 'pg_signal_backend', 'USAGE') THEN
    BEGIN
      GRANT pg_signal_backend TO rolecall_owner;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'could not grant pg_signal_backend to rolecall_owner (%): rolecall.revoke_login will not end open sessions until an admin runs GRANT pg_signal_backend TO rolecall_owner', SQLERRM;
    END;
  END IF;
END
$install_signal$;

COMMIT;
