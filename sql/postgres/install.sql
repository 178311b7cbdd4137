-- Rolecall database side: installs (or upgrades in place) the rolecall schema.
--
-- Run once per database as a superuser, or on Amazon RDS / Aurora as the
-- master user (rds_superuser):
--   psql "host=... dbname=... user=..." -v ON_ERROR_STOP=1 -f sql/postgres/install.sql
-- Safe to run again: every step checks what is already there. It never changes
-- the LOGIN flag or password of an existing rolecall_sync. Re-running it over
-- an older version also repairs what that version left behind (see the end of
-- this file and README.md, "Upgrading").
--
-- Works on PostgreSQL 15 and later. The functions run as rolecall_owner
-- (NOLOGIN, CREATEROLE, never superuser) and trust nothing the caller controls:
-- every input is bounded, every session setting they depend on is pinned, and
-- every role they hand out or touch is checked against the catalogs as they are
-- at the moment of the call. README.md lists each promise and its test.

BEGIN;
SET LOCAL client_min_messages = warning;

DO $install_check$
BEGIN
  IF pg_catalog.current_setting('server_version_num')::integer < 150000 THEN
    RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'Rolecall needs PostgreSQL 15 or later';
  END IF;
END
$install_check$;

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
  -- An existing rolecall_sync keeps its LOGIN flag and password.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rolecall_sync') THEN
    CREATE ROLE rolecall_sync NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
  END IF;
  -- The team broker's login (team mode), distinct from direct mode's sync
  -- logins; enabled the same way. An existing one keeps its LOGIN and password.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rolecall_broker') THEN
    CREATE ROLE rolecall_broker NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
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


CREATE SCHEMA IF NOT EXISTS rolecall AUTHORIZATION rolecall_owner;
ALTER SCHEMA rolecall OWNER TO rolecall_owner;
REVOKE ALL ON SCHEMA rolecall FROM PUBLIC;
GRANT USAGE ON SCHEMA rolecall TO rolecall_sync, rolecall_broker;

-- Everything below is created by (and so owned by) rolecall_owner.
SET LOCAL ROLE rolecall_owner;

-- Tables ----------------------------------------------------------------------
-- Every table has row-level security on and no policy: only rolecall_owner (and
-- roles with its privileges, superusers) see or change a row. pg_read_all_data
-- and pg_write_all_data bypass table grants, not row-level security.

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
-- Which kind of principal called: 'broker', 'direct' (a sync login), 'admin'.
ALTER TABLE rolecall.audit ADD COLUMN IF NOT EXISTS principal text;
-- A digest of the verifier Rolecall last set: a repeated sync with the same
-- verifier (the broker's are the same within a window) writes nothing.
ALTER TABLE rolecall.managed_login ADD COLUMN IF NOT EXISTS verifier_digest bytea;

-- Wrong-password throttling shared by every broker replica: a login whose
-- password check failed is held for a while, so retries from any number of
-- replicas and laptops reach the directory once per hold. Nothing here is
-- derived from a password.
CREATE TABLE IF NOT EXISTS rolecall.signin_throttle (
  name_key        text PRIMARY KEY,
  failures        integer NOT NULL DEFAULT 0,
  held_until      timestamptz,
  last_failure_at timestamptz
);

-- The broker's sweep runs on one replica at a time: the holder of this lease.
CREATE TABLE IF NOT EXISTS rolecall.lease (
  name        text PRIMARY KEY,
  holder      text NOT NULL,
  holder_pid  integer NOT NULL,
  acquired_at timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);

-- One row per login name key: the lock that serializes syncs and revocations
-- of a login. Only the owner can lock these rows; an advisory lock could be
-- taken by any role and held forever.
CREATE TABLE IF NOT EXISTS rolecall.login_lock (
  name_key text PRIMARY KEY
);

-- Settings an admin may change with rolecall.configure().
CREATE TABLE IF NOT EXISTS rolecall.setting (
  name       text PRIMARY KEY,
  value      text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Counts every call the functions turned down. Sequences are not rolled back,
-- so a caller that hides its refusals in a transaction it aborts still moves it.
CREATE SEQUENCE IF NOT EXISTS rolecall.refused_calls;

ALTER TABLE rolecall.managed_login ENABLE ROW LEVEL SECURITY;
ALTER TABLE rolecall.group_role ENABLE ROW LEVEL SECURITY;
ALTER TABLE rolecall.audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE rolecall.login_lock ENABLE ROW LEVEL SECURITY;
ALTER TABLE rolecall.setting ENABLE ROW LEVEL SECURITY;
ALTER TABLE rolecall.signin_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE rolecall.lease ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON ALL TABLES IN SCHEMA rolecall FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA rolecall FROM PUBLIC;

-- Functions of version 1 whose signature or return type changed.
DROP FUNCTION IF EXISTS rolecall._is_scram_verifier(text);
DROP FUNCTION IF EXISTS rolecall._refuse(text, text);
DROP FUNCTION IF EXISTS rolecall._revoke_roles(text, text[]);

-- Internal helpers (not callable by rolecall_sync) -----------------------------

-- A name with control characters replaced and its length capped, for messages
-- and log lines (a newline in a login must not forge a log line).
CREATE OR REPLACE FUNCTION rolecall._shown(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT pg_catalog.left(pg_catalog.regexp_replace(coalesce(p_name, ''), '[[:cntrl:]]', '?', 'g'), 80)
$fn$;

-- The form two names are compared in to find look-alikes: Unicode NFKC, then
-- lower case (with ICU's full case mapping where the server has ICU). Created
-- per server below, since normalize() needs a UTF-8 database.
DO $name_key$
DECLARE
  v_utf8 boolean := pg_catalog.getdatabaseencoding() = 'UTF8';
  v_icu boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_collation WHERE collname = 'und-x-icu');
  v_expr text;
BEGIN
  v_expr := CASE WHEN v_utf8 THEN 'pg_catalog.normalize(p_name, ''NFKC'')' ELSE 'p_name' END;
  IF v_icu THEN
    v_expr := pg_catalog.format('pg_catalog.lower(%s COLLATE "und-x-icu")', v_expr);
  ELSE
    v_expr := pg_catalog.format('pg_catalog.lower(%s)', v_expr);
  END IF;
  EXECUTE pg_catalog.format($f$
    CREATE OR REPLACE FUNCTION rolecall._name_key(p_name text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS %L$f$, 'SELECT ' || v_expr || '::text');
END
$name_key$;

-- True for names reserved to PostgreSQL, RDS and Rolecall (compared by name key,
-- so a full-width or upper-case spelling is reserved too).
CREATE OR REPLACE FUNCTION rolecall._reserved_name(p_name text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT k LIKE 'pg\_%' OR k LIKE 'rds%' OR k LIKE 'rolecall\_%'
      OR k IN ('postgres', 'public', 'none', 'all', 'current_user', 'current_role', 'session_user', 'system_user')
  FROM (SELECT rolecall._name_key(p_name) AS k) n
$fn$;

-- Why a name may never be managed or granted, or NULL when it may.
CREATE OR REPLACE FUNCTION rolecall._name_refusal(p_name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
BEGIN
  IF p_name IS NULL OR p_name = '' THEN
    RETURN 'the role name is empty';
  ELSIF pg_catalog.octet_length(p_name) > 63 THEN
    RETURN 'the role name is longer than 63 bytes';
  ELSIF p_name ~ '[[:cntrl:]]' THEN
    RETURN 'the role name contains control characters';
  ELSIF p_name ~ '^\s|\s$' THEN
    RETURN 'the role name starts or ends with white space';
  ELSIF pg_catalog.getdatabaseencoding() = 'UTF8'
        AND p_name ~ '[\u00a0\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]' THEN
    RETURN 'the role name contains invisible, space-like or bidirectional control characters';
  ELSIF rolecall._reserved_name(p_name) THEN
    RETURN 'the role name is reserved (pg_*, rds*, rolecall_*, postgres, public and SQL role keywords)';
  END IF;
  RETURN NULL;
END
$fn$;

-- Why a role is protected (never handed out, never reached through a Rolecall
-- login), or NULL. Built-in roles are found by oid, not only by name.
CREATE OR REPLACE FUNCTION rolecall._protected_reason(p_oid oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE
    WHEN r.oid < 16384 THEN 'a built-in role'
    WHEN r.rolsuper THEN 'a superuser'
    WHEN r.rolcreaterole THEN 'a role with CREATEROLE'
    WHEN r.rolreplication THEN 'a role with REPLICATION'
    WHEN r.rolbypassrls THEN 'a role with BYPASSRLS'
    WHEN rolecall._reserved_name(r.rolname) THEN 'a reserved role'
    ELSE NULL
  END
  FROM pg_catalog.pg_roles r WHERE r.oid = p_oid
$fn$;

-- Why an existing login may not be touched because of its own attributes, or NULL.
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

-- The nearest role above p_member, through any chain of memberships, that is
-- protected or can log in (role, reason), with the first role of that chain
-- (via). Memberships granted by p_skip_grantor are not followed on the first
-- step. No row when there is none.
CREATE OR REPLACE FUNCTION rolecall._protected_ancestor(p_member oid, p_skip_grantor oid, OUT via text, OUT role text, OUT reason text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH RECURSIVE up(first, oid, depth) AS (
    SELECT a.roleid, a.roleid, 1 FROM pg_catalog.pg_auth_members a
    WHERE a.member = p_member AND a.grantor IS DISTINCT FROM p_skip_grantor
    UNION
    SELECT up.first, a.roleid, up.depth + 1 FROM pg_catalog.pg_auth_members a JOIN up ON a.member = up.oid
    WHERE up.depth < 64
  )
  SELECT rolecall._shown(f.rolname), rolecall._shown(r.rolname), x.reason
  FROM up
  JOIN pg_catalog.pg_roles r ON r.oid = up.oid
  JOIN pg_catalog.pg_roles f ON f.oid = up.first
  CROSS JOIN LATERAL (SELECT coalesce(rolecall._protected_reason(r.oid),
                        CASE WHEN r.rolcanlogin THEN 'a role that can log in' END) AS reason) x
  WHERE x.reason IS NOT NULL
  ORDER BY up.depth, f.rolname COLLATE "C", r.rolname COLLATE "C"
  LIMIT 1
$fn$;

-- Why a managed login may no longer be touched because of what an admin made
-- it a member of (transitively), or NULL. Memberships Rolecall granted itself
-- are left out of the first step: those are checked as group roles and taken
-- back when they became powerful.
CREATE OR REPLACE FUNCTION rolecall._power_refusal(p_login oid, p_owner oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE WHEN a.via = a.role
    THEN pg_catalog.format('an admin made it a member of "%s" (%s), so Rolecall no longer manages it', a.via, a.reason)
    ELSE pg_catalog.format('an admin made it a member of "%s", and through it of "%s" (%s), so Rolecall no longer manages it',
           a.via, a.role, a.reason)
  END
  FROM rolecall._protected_ancestor(p_login, p_owner) a
  WHERE a.role IS NOT NULL
$fn$;

-- Why a role may not be handed out as a group role, or NULL. Only plain roles
-- qualify: NOLOGIN, no protected attribute, not a Rolecall login, and no
-- protected role or login role anywhere above it.
CREATE OR REPLACE FUNCTION rolecall._group_refusal(p_oid oid) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_role pg_catalog.pg_roles%ROWTYPE;
  v_reason text;
  v_parent text;
BEGIN
  SELECT * INTO v_role FROM pg_catalog.pg_roles r WHERE r.oid = p_oid;
  IF NOT FOUND THEN
    RETURN 'the role does not exist';
  END IF;
  v_reason := rolecall._name_refusal(v_role.rolname);
  IF v_reason IS NOT NULL THEN
    RETURN v_reason;
  END IF;
  v_reason := rolecall._protected_reason(p_oid);
  IF v_reason IS NOT NULL THEN
    RETURN 'it is ' || v_reason;
  END IF;
  IF v_role.rolcanlogin THEN
    RETURN 'it can log in (only NOLOGIN roles are handed out)';
  END IF;
  IF EXISTS (SELECT 1 FROM rolecall.managed_login m WHERE m.role_oid = p_oid) THEN
    RETURN 'it is a login managed by Rolecall';
  END IF;
  SELECT pg_catalog.format('it is a member of "%s" (%s)', a.role, a.reason) INTO v_parent
  FROM rolecall._protected_ancestor(p_oid, NULL) a WHERE a.role IS NOT NULL;
  RETURN v_parent;
END
$fn$;

CREATE OR REPLACE FUNCTION rolecall._setting(p_name text, p_default text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT coalesce((SELECT s.value FROM rolecall.setting s WHERE s.name = p_name), p_default)
$fn$;

CREATE OR REPLACE FUNCTION rolecall._min_scram_iterations() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT GREATEST(4096, rolecall._setting('min_scram_iterations', '4096')::integer)
$fn$;

-- Why a value is not an acceptable SCRAM-SHA-256 verifier, or NULL. Never
-- quotes the value: it may be a plaintext password sent by mistake. Anything
-- but a verifier would be hashed by PostgreSQL as a plaintext password.
CREATE OR REPLACE FUNCTION rolecall._verifier_refusal(p_value text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  m text[];
  v_floor integer := rolecall._min_scram_iterations();
  v_salt integer;
BEGIN
  m := pg_catalog.regexp_match(coalesce(p_value, ''),
    '^SCRAM-SHA-256\$([0-9]{1,9}):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$');
  IF m IS NULL THEN
    RETURN 'p_verifier must be a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>); a plaintext password is never accepted';
  END IF;
  IF m[1]::integer < v_floor THEN
    RETURN pg_catalog.format('the verifier uses %s iterations; this database requires at least %s', m[1]::integer, v_floor);
  END IF;
  BEGIN
    v_salt := pg_catalog.octet_length(pg_catalog.decode(m[2], 'base64'));
    IF pg_catalog.octet_length(pg_catalog.decode(m[3], 'base64')) <> 32
       OR pg_catalog.octet_length(pg_catalog.decode(m[4], 'base64')) <> 32 THEN
      RETURN 'the verifier''s stored and server keys must be 32 bytes each';
    END IF;
  EXCEPTION WHEN OTHERS THEN
    RETURN 'the verifier is not valid base64';
  END;
  IF v_salt < 16 THEN
    RETURN pg_catalog.format('the verifier''s salt is %s bytes; at least 16 are required', v_salt);
  END IF;
  RETURN NULL;
END
$fn$;

-- The VALID UNTIL a p_valid_for gives, or NULL when it is not acceptable: NULL,
-- zero or negative, infinite, out of range, or beyond 366 days from now. The cap
-- is checked on the resulting timestamp: compared as intervals, a month counts
-- as 30 days and mixed month/day values slip through.
CREATE OR REPLACE FUNCTION rolecall._valid_until(p_valid_for interval) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_until timestamptz;
BEGIN
  IF p_valid_for IS NULL THEN
    RETURN NULL;
  END IF;
  BEGIN
    v_until := pg_catalog.now() + p_valid_for;
  EXCEPTION WHEN OTHERS THEN
    RETURN NULL; -- timestamp out of range
  END;
  IF NOT pg_catalog.isfinite(v_until) OR v_until <= pg_catalog.now()
     OR v_until > pg_catalog.now() + interval '366 days' THEN
    RETURN NULL;
  END IF;
  RETURN v_until;
END
$fn$;

-- Every refusal is counted (a sequence: not undone by a rollback) and written
-- to the server log as a LOG line in a fixed, secret-free format (written at
-- once, whatever the caller does next).
CREATE OR REPLACE FUNCTION rolecall._record_refusal(p_action text, p_login text, p_sqlstate text, p_message text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
BEGIN
  PERFORM pg_catalog.nextval('rolecall.refused_calls');
  RAISE LOG 'rolecall: refused % of login "%" by % from %: % (SQLSTATE %)',
    p_action, rolecall._shown(p_login), session_user,
    coalesce(pg_catalog.host(pg_catalog.inet_client_addr()), 'local socket'), p_message, p_sqlstate;
END
$fn$;

-- The door a call leaves through when its input or session is refused:
-- recorded as above, then raised (nothing was changed).
CREATE OR REPLACE FUNCTION rolecall._refuse(p_action text, p_login text, p_sqlstate text, p_message text, p_hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
BEGIN
  PERFORM rolecall._record_refusal(p_action, p_login, p_sqlstate, p_message);
  IF p_hint IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message;
  END IF;
  RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, HINT = p_hint;
END
$fn$;

-- Which kind of principal the session is: 'admin' (a superuser, or a member
-- of rolecall_owner), 'broker' (rolecall_broker or a member), 'direct'
-- (rolecall_sync or a member: a laptop in direct mode), or 'other'.
CREATE OR REPLACE FUNCTION rolecall._principal() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper)
      OR pg_catalog.pg_has_role(session_user, 'rolecall_owner', 'USAGE') THEN 'admin'
    WHEN pg_catalog.pg_has_role(session_user, 'rolecall_broker', 'MEMBER') THEN 'broker'
    WHEN pg_catalog.pg_has_role(session_user, 'rolecall_sync', 'MEMBER') THEN 'direct'
    ELSE 'other'
  END
$fn$;

-- Session state a call must not run under, and limits it must run within.
-- A snapshot older than the statement would plan from stale roles and
-- memberships, so only READ COMMITTED is accepted. A direct-mode principal
-- is refused when the admin turned direct mode off. Lock waits are bounded by
-- the functions' own lock_timeout; a non-admin's statement and
-- idle-in-transaction timeouts, when off or above the defaults install.sql
-- gives the sync logins, are set to those defaults for the rest of the
-- caller's transaction, so a forgotten open transaction cannot hold a login's
-- lock for long. Admins keep their own settings.
CREATE OR REPLACE FUNCTION rolecall._check_caller(p_action text, p_login text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_principal text := rolecall._principal();
BEGIN
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM rolecall._refuse(p_action, p_login, '25000',
      pg_catalog.format('rolecall.%s must run in a READ COMMITTED transaction (this one is %s): it must see roles and memberships as they are now',
        p_action, pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
      'SET default_transaction_isolation = ''read committed'' (install.sql sets it for the sync logins)');
  END IF;
  IF v_principal = 'direct' AND rolecall._setting('direct_mode', 'on') = 'off' THEN
    PERFORM rolecall._refuse(p_action, p_login, '42501',
      pg_catalog.format('direct mode is off for this database: %s may not sync logins', session_user),
      'Sign in through the team broker (a broker profile), or ask the database admin: rolecall.configure(''direct_mode'', ''on'').');
  END IF;
  IF v_principal = 'admin' THEN
    RETURN;
  END IF;
  IF pg_catalog.current_setting('statement_timeout')::interval NOT BETWEEN interval '1 millisecond' AND interval '30 seconds' THEN
    PERFORM pg_catalog.set_config('statement_timeout', '30s', true);
  END IF;
  IF pg_catalog.current_setting('idle_in_transaction_session_timeout')::interval NOT BETWEEN interval '1 millisecond' AND interval '60 seconds' THEN
    PERFORM pg_catalog.set_config('idle_in_transaction_session_timeout', '60s', true);
  END IF;
END
$fn$;

-- Takes the per-login lock (by name key, so look-alike names serialize too) or
-- refuses after the pinned lock_timeout with a message that says what to do.
CREATE OR REPLACE FUNCTION rolecall._lock_login(p_action text, p_login text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_key text := rolecall._name_key(p_login);
BEGIN
  BEGIN
    INSERT INTO rolecall.login_lock (name_key) VALUES (v_key) ON CONFLICT (name_key) DO NOTHING;
    PERFORM 1 FROM rolecall.login_lock l WHERE l.name_key = v_key FOR UPDATE;
  EXCEPTION WHEN lock_not_available THEN
    PERFORM rolecall._refuse(p_action, p_login, '55P03',
      pg_catalog.format('another sync or revocation of login "%s" is still running (waited %s)', rolecall._shown(p_login),
        pg_catalog.current_setting('lock_timeout')),
      'Try again in a moment.');
  END;
END
$fn$;

-- The one place that decides what a sync would do: sync_login applies it,
-- preview_sync shows it. "current" is every membership Rolecall granted (the
-- owner is its grantor), whatever the role has become since; "revoke" is what
-- of that is not wanted now.
CREATE OR REPLACE FUNCTION rolecall._plan(p_login text, p_groups text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_refusal text;
  v_oid oid;
  v_managed boolean := false;
  v_owner oid;
  v_pg16 boolean := pg_catalog.current_setting('server_version_num')::integer >= 160000;
  v_groups text[];
  v_wanted text[];
  v_skipped text[];
  v_current text[] := '{}';
  v_twin text;
BEGIN
  SELECT r.oid INTO v_owner FROM pg_catalog.pg_roles r WHERE r.rolname = 'rolecall_owner';
  v_refusal := rolecall._name_refusal(p_login);
  IF v_refusal IS NULL THEN
    SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_login;
    IF v_oid IS NOT NULL THEN
      v_managed := EXISTS (SELECT 1 FROM rolecall.managed_login m WHERE m.login = p_login AND m.role_oid = v_oid);
      IF NOT v_managed THEN
        v_refusal := 'the role exists and was not created by Rolecall';
      ELSE
        v_refusal := coalesce(rolecall._attribute_refusal(v_oid), rolecall._power_refusal(v_oid, v_owner));
      END IF;
    ELSE
      SELECT r.rolname INTO v_twin FROM pg_catalog.pg_roles r
      WHERE rolecall._name_key(r.rolname) = rolecall._name_key(p_login)
      ORDER BY r.rolname COLLATE "C" LIMIT 1;
      IF v_twin IS NOT NULL THEN
        v_refusal := pg_catalog.format('it differs from the existing role "%s" only by case or Unicode form', rolecall._shown(v_twin));
      END IF;
    END IF;
  END IF;

  SELECT coalesce(pg_catalog.array_agg(DISTINCT pg_catalog.lower(g)), '{}') INTO v_groups
  FROM pg_catalog.unnest(coalesce(p_groups, '{}'::text[])) AS g WHERE g IS NOT NULL;

  -- Allow-listed roles for these groups that exist, may be handed out, and
  -- that the owner can grant (PostgreSQL 16+: ADMIN OPTION given by allow_group).
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

  IF v_oid IS NOT NULL THEN
    SELECT coalesce(pg_catalog.array_agg(r.rolname::text ORDER BY r.rolname::text COLLATE "C"), '{}')
    INTO v_current
    FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
    WHERE a.member = v_oid AND a.grantor = v_owner;
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

-- Refuses inputs that are out of bounds, before anything is locked or written:
-- the groups list (count and size: it is stored in the audit row), the client
-- info (a JSON object of at most 4 KiB) and a revocation reason.
CREATE OR REPLACE FUNCTION rolecall._check_bounds(p_action text, p_login text, p_groups text[], p_client_info jsonb, p_reason text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
BEGIN
  IF pg_catalog.octet_length(p_login) > 1024 THEN
    PERFORM rolecall._refuse(p_action, pg_catalog.left(p_login, 80), '22023', 'p_login is longer than 1024 bytes');
  END IF;
  IF coalesce(pg_catalog.cardinality(p_groups), 0) > 1024 THEN
    PERFORM rolecall._refuse(p_action, p_login, '22023',
      pg_catalog.format('p_groups has %s entries; at most 1024 are accepted (send only the groups that passed the profile''s filter)', pg_catalog.cardinality(p_groups)));
  END IF;
  IF coalesce(pg_catalog.octet_length(p_groups::text), 0) > 65536
     OR EXISTS (SELECT 1 FROM pg_catalog.unnest(p_groups) g WHERE pg_catalog.octet_length(g) > 1024) THEN
    PERFORM rolecall._refuse(p_action, p_login, '22023', 'p_groups is too large: at most 64 KiB in all and 1024 bytes per group name');
  END IF;
  IF p_client_info IS NOT NULL AND (pg_catalog.jsonb_typeof(p_client_info) <> 'object' OR pg_catalog.octet_length(p_client_info::text) > 4096) THEN
    PERFORM rolecall._refuse(p_action, p_login, '22023', 'p_client_info must be a JSON object of at most 4096 bytes');
  END IF;
  IF pg_catalog.octet_length(p_reason) > 1000 THEN
    PERFORM rolecall._refuse(p_action, p_login, '22023', 'p_reason must be at most 1000 bytes');
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION rolecall._audit(
  p_action text, p_login text, p_groups text[], p_granted text[], p_revoked text[],
  p_outcome text, p_message text, p_client_info jsonb
) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $fn$
  INSERT INTO rolecall.audit (action, login, groups, granted, revoked, outcome, message, client_info, principal)
  VALUES (p_action, pg_catalog.left(p_login, 128), p_groups, p_granted, p_revoked, p_outcome,
          pg_catalog.left(p_message, 1000), p_client_info, rolecall._principal())
$fn$;

-- Revokes memberships Rolecall granted (the owner is their grantor). Each one
-- on its own: a role that has become a superuser cannot be revoked by the
-- owner, and that must not stop the others. Returns {"revoked", "failed"}.
CREATE OR REPLACE FUNCTION rolecall._revoke_roles(p_login text, p_roles text[]) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_role text;
  v_done text[] := '{}';
  v_failed text[] := '{}';
BEGIN
  FOREACH v_role IN ARRAY coalesce(p_roles, '{}'::text[]) LOOP
    BEGIN
      EXECUTE pg_catalog.format('REVOKE %I FROM %I', v_role, p_login);
      v_done := v_done || v_role;
    EXCEPTION WHEN OTHERS THEN
      v_failed := v_failed || pg_catalog.format('%s (%s)', v_role, SQLERRM);
    END;
  END LOOP;
  RETURN pg_catalog.jsonb_build_object('revoked', pg_catalog.to_jsonb(v_done), 'failed', pg_catalog.to_jsonb(v_failed));
END
$fn$;

-- Creates the login or sets its password. The statement carries the verifier,
-- and a failing statement is quoted in the error's CONTEXT (client and server
-- log): so any failure is caught here and raised again with the same SQLSTATE
-- and a message that names the login and the cause, never the statement.
CREATE OR REPLACE FUNCTION rolecall._set_password(p_login text, p_verifier text, p_until timestamptz, p_create boolean)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_until text := pg_catalog.to_char(p_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
  v_state text;
  v_message text;
BEGIN
  IF p_create THEN
    EXECUTE pg_catalog.format(
      'CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD %L VALID UNTIL %L',
      p_login, p_verifier, v_until);
  ELSE
    EXECUTE pg_catalog.format('ALTER ROLE %I WITH LOGIN PASSWORD %L VALID UNTIL %L', p_login, p_verifier, v_until);
  END IF;
EXCEPTION WHEN query_canceled OR OTHERS THEN
  GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
  v_message := pg_catalog.regexp_replace(pg_catalog.replace(v_message, p_verifier, '[verifier]'), 'SCRAM-SHA-256\$\S*', '[verifier]', 'g');
  RAISE EXCEPTION USING ERRCODE = v_state,
    MESSAGE = pg_catalog.format('Rolecall could not %s login "%s": %s',
      CASE WHEN p_create THEN 'create' ELSE 'set the password of' END, rolecall._shown(p_login), v_message),
    HINT = 'Nothing was changed. Try again; if it keeps failing, a database admin should look at this login.';
END
$fn$;

-- NOLOGIN, then ends the login's open sessions one backend at a time (a single
-- query with pg_terminate_backend() in its WHERE clause could call it before
-- the filter on the role). Returns how many ended, or NULL when the owner may
-- not signal backends (see README: pg_signal_backend).
CREATE OR REPLACE FUNCTION rolecall._disable_login(p_login text, p_oid oid, p_end_sessions boolean) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_pid integer;
  v_terminated integer := 0;
BEGIN
  EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', p_login);
  IF NOT p_end_sessions THEN
    RETURN 0;
  END IF;
  BEGIN
    FOR v_pid IN
      SELECT a.pid FROM pg_catalog.pg_stat_activity a
      WHERE a.usesysid = p_oid AND a.pid <> pg_catalog.pg_backend_pid()
    LOOP
      IF pg_catalog.pg_terminate_backend(v_pid) THEN
        v_terminated := v_terminated + 1;
      END IF;
    END LOOP;
  EXCEPTION WHEN insufficient_privilege THEN
    RETURN NULL;
  END;
  RETURN v_terminated;
END
$fn$;

-- Public API (EXECUTE granted to rolecall_sync) ---------------------------------

CREATE OR REPLACE FUNCTION rolecall.version() RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$ SELECT '2'::text $fn$;

-- What a caller needs to build acceptable arguments.
CREATE OR REPLACE FUNCTION rolecall.sync_parameters() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT pg_catalog.jsonb_build_object(
    'version', rolecall.version(),
    'min_scram_iterations', rolecall._min_scram_iterations(),
    'min_salt_bytes', 16,
    'max_valid_for_days', 366,
    'max_groups', 1024)
$fn$;

CREATE OR REPLACE FUNCTION rolecall.sync_login(
  p_login text, p_verifier text, p_groups text[], p_valid_for interval, p_client_info jsonb DEFAULT '{}'::jsonb
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_plan jsonb;
  v_groups text[] := coalesce(p_groups, '{}'::text[]);
  v_until timestamptz;
  v_reason text;
  v_revoke jsonb;
  v_revoked text[];
  v_grant text[];
  v_role text;
  v_created boolean := false;
  v_digest bytea;
  v_current_until timestamptz;
BEGIN
  PERFORM rolecall._check_caller('sync_login', p_login);
  PERFORM rolecall._check_bounds('sync_login', p_login, v_groups, p_client_info, NULL);
  v_reason := rolecall._verifier_refusal(p_verifier);
  IF v_reason IS NOT NULL THEN
    PERFORM rolecall._refuse('sync_login', p_login, '22023', v_reason);
  END IF;
  v_until := rolecall._valid_until(p_valid_for);
  IF v_until IS NULL THEN
    PERFORM rolecall._refuse('sync_login', p_login, '22023',
      'p_valid_for must be a finite, positive interval that ends at most 366 days from now');
  END IF;

  PERFORM rolecall._lock_login('sync_login', p_login);
  v_plan := rolecall._plan(p_login, v_groups);

  -- A refusal changes nothing but is recorded: returned (not raised) so the
  -- audit row stays, and logged and counted by _refuse's rules.
  IF v_plan->>'refused' IS NOT NULL THEN
    PERFORM rolecall._record_refusal('sync_login', p_login, '42501', v_plan->>'refused');
    PERFORM rolecall._audit('sync', p_login, v_groups, '{}', '{}', 'refused', v_plan->>'refused', p_client_info);
    RETURN pg_catalog.jsonb_build_object(
      'created', false, 'denied', true, 'refused', v_plan->>'refused',
      'granted', '[]'::jsonb, 'revoked', '[]'::jsonb, 'roles', '[]'::jsonb, 'skipped', v_plan->'skipped',
      'message', pg_catalog.format('Rolecall refuses to manage role "%s": %s', rolecall._shown(p_login), v_plan->>'refused'));
  END IF;
  IF NOT (v_plan->>'exists')::boolean THEN
    DELETE FROM rolecall.managed_login WHERE login = p_login; -- a login the admin dropped
  END IF;

  -- Take back first what Rolecall granted and is not wanted now (also roles
  -- that became powerful or left the allow-list). If one cannot be taken back,
  -- the login is disabled rather than left with it.
  v_revoke := rolecall._revoke_roles(p_login, rolecall._text_array(v_plan->'revoke'));
  v_revoked := rolecall._text_array(v_revoke->'revoked');
  IF pg_catalog.jsonb_array_length(v_revoke->'failed') > 0 THEN
    PERFORM rolecall._disable_login(p_login, (v_plan->>'oid')::oid, true);
    v_reason := pg_catalog.format('Rolecall could not take back %s from "%s", so the login was disabled; a database admin must revoke it',
      pg_catalog.array_to_string(rolecall._text_array(v_revoke->'failed'), ', '), rolecall._shown(p_login));
    PERFORM rolecall._audit('sync', p_login, v_groups, '{}', v_revoked, 'disabled', v_reason, p_client_info);
    RETURN pg_catalog.jsonb_build_object(
      'created', false, 'denied', true, 'granted', '[]'::jsonb, 'revoked', pg_catalog.to_jsonb(v_revoked),
      'roles', '[]'::jsonb, 'skipped', v_plan->'skipped', 'message', v_reason);
  END IF;

  IF pg_catalog.jsonb_array_length(v_plan->'wanted') = 0 THEN
    -- No group maps to an allow-listed role: reported in the result (not
    -- raised) so the revocation is not rolled back.
    IF (v_plan->>'managed')::boolean THEN
      PERFORM rolecall._disable_login(p_login, (v_plan->>'oid')::oid, false);
    END IF;
    PERFORM rolecall._audit('sync', p_login, v_groups, '{}', v_revoked, 'no-roles',
      'none of the groups maps to an allowed database role', p_client_info);
    RETURN pg_catalog.jsonb_build_object(
      'created', false, 'denied', true, 'granted', '[]'::jsonb, 'revoked', pg_catalog.to_jsonb(v_revoked),
      'roles', '[]'::jsonb, 'skipped', v_plan->'skipped',
      'message', pg_catalog.format('none of the directory groups of "%s" maps to a database role allowed by rolecall.group_role', rolecall._shown(p_login)));
  END IF;

  v_created := NOT (v_plan->>'exists')::boolean;
  v_digest := pg_catalog.sha256(pg_catalog.convert_to(p_verifier, 'UTF8'));
  -- The same verifier as last time (the broker's are, within a window), the
  -- roles already right, the login enabled and valid as long: nothing to write.
  IF NOT v_created AND pg_catalog.jsonb_array_length(v_plan->'grant') = 0 AND pg_catalog.cardinality(v_revoked) = 0 THEN
    SELECT r.rolvaliduntil INTO v_current_until
    FROM pg_catalog.pg_roles r JOIN rolecall.managed_login m ON m.role_oid = r.oid AND m.login = r.rolname
    WHERE r.rolname = p_login AND r.rolcanlogin AND m.verifier_digest = v_digest;
    IF v_current_until IS NOT NULL AND v_current_until >= v_until - interval '5 minutes' THEN
      RETURN pg_catalog.jsonb_build_object(
        'created', false, 'denied', false, 'unchanged', true, 'granted', '[]'::jsonb, 'revoked', '[]'::jsonb,
        'roles', v_plan->'wanted', 'skipped', v_plan->'skipped',
        'valid_until', pg_catalog.to_char(v_current_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    END IF;
  END IF;
  PERFORM rolecall._set_password(p_login, p_verifier, v_until, v_created);
  IF v_created THEN
    INSERT INTO rolecall.managed_login (login, role_oid)
    SELECT p_login, r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_login;
  END IF;

  v_grant := rolecall._text_array(v_plan->'grant');
  FOREACH v_role IN ARRAY v_grant LOOP
    EXECUTE pg_catalog.format('GRANT %I TO %I GRANTED BY CURRENT_USER', v_role, p_login);
  END LOOP;
  UPDATE rolecall.managed_login SET last_sync_at = pg_catalog.now(), verifier_digest = v_digest WHERE login = p_login;

  PERFORM rolecall._audit('sync', p_login, v_groups, v_grant, v_revoked,
    CASE WHEN v_created THEN 'created' ELSE 'updated' END, NULL, p_client_info);
  RETURN pg_catalog.jsonb_build_object(
    'created', v_created, 'denied', false,
    'granted', pg_catalog.to_jsonb(v_grant), 'revoked', pg_catalog.to_jsonb(v_revoked),
    'roles', v_plan->'wanted', 'skipped', v_plan->'skipped',
    'valid_until', pg_catalog.to_char(v_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
END
$fn$;

CREATE OR REPLACE FUNCTION rolecall.revoke_login(p_login text, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_plan jsonb;
  v_revoke jsonb;
  v_terminated integer;
  v_message text := p_reason;
BEGIN
  PERFORM rolecall._check_caller('revoke_login', p_login);
  PERFORM rolecall._check_bounds('revoke_login', p_login, NULL, NULL, p_reason);
  PERFORM rolecall._lock_login('revoke_login', p_login);

  v_plan := rolecall._plan(p_login, '{}');
  IF v_plan->>'refused' IS NOT NULL THEN
    PERFORM rolecall._record_refusal('revoke_login', p_login, '42501', v_plan->>'refused');
    PERFORM rolecall._audit('revoke', p_login, NULL, '{}', '{}', 'refused', v_plan->>'refused', NULL);
    RETURN pg_catalog.jsonb_build_object('existed', (v_plan->>'exists')::boolean, 'refused', v_plan->>'refused',
      'revoked', '[]'::jsonb, 'terminated', 0,
      'message', pg_catalog.format('Rolecall refuses to manage role "%s": %s', rolecall._shown(p_login), v_plan->>'refused'));
  END IF;
  IF NOT (v_plan->>'exists')::boolean THEN
    DELETE FROM rolecall.managed_login WHERE login = p_login;
    PERFORM rolecall._audit('revoke', p_login, NULL, '{}', '{}', 'absent', p_reason, NULL);
    RETURN pg_catalog.jsonb_build_object('existed', false, 'revoked', '[]'::jsonb, 'terminated', 0);
  END IF;

  v_revoke := rolecall._revoke_roles(p_login, rolecall._text_array(v_plan->'current'));
  v_terminated := rolecall._disable_login(p_login, (v_plan->>'oid')::oid, true);
  IF v_terminated IS NULL THEN
    -- The role change stands; only ending open sessions failed (see README: pg_signal_backend).
    v_message := pg_catalog.concat_ws('; ', p_reason, 'could not end open sessions: rolecall_owner lacks pg_signal_backend');
  END IF;
  IF pg_catalog.jsonb_array_length(v_revoke->'failed') > 0 THEN
    v_message := pg_catalog.concat_ws('; ', v_message, 'could not take back '
      || pg_catalog.array_to_string(rolecall._text_array(v_revoke->'failed'), ', '));
  END IF;

  PERFORM rolecall._audit('revoke', p_login, NULL, '{}', rolecall._text_array(v_revoke->'revoked'), 'revoked', v_message, NULL);
  RETURN pg_catalog.jsonb_build_object('existed', true, 'revoked', v_revoke->'revoked', 'terminated', v_terminated)
    || CASE WHEN pg_catalog.jsonb_array_length(v_revoke->'failed') > 0
            THEN pg_catalog.jsonb_build_object('failed', v_revoke->'failed') ELSE '{}'::jsonb END;
END
$fn$;

-- Dry run: what sync_login would do for these groups. Changes nothing.
CREATE OR REPLACE FUNCTION rolecall.preview_sync(p_login text, p_groups text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_plan jsonb;
  v_denied boolean;
BEGIN
  IF coalesce(pg_catalog.cardinality(p_groups), 0) > 1024 OR coalesce(pg_catalog.octet_length(p_groups::text), 0) > 65536
     OR pg_catalog.octet_length(p_login) > 1024 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'p_login or p_groups is too large (at most 1024 groups, 64 KiB in all)';
  END IF;
  v_plan := rolecall._plan(p_login, p_groups);
  v_denied := v_plan->>'refused' IS NOT NULL OR pg_catalog.jsonb_array_length(v_plan->'wanted') = 0;
  RETURN pg_catalog.jsonb_build_object(
    'refused', v_plan->'refused',
    'exists', v_plan->'exists',
    'managed', v_plan->'managed',
    'denied', v_denied,
    'created', NOT (v_plan->>'exists')::boolean AND NOT v_denied,
    'granted', CASE WHEN v_denied THEN '[]'::jsonb ELSE v_plan->'grant' END,
    'revoked', CASE WHEN v_plan->>'refused' IS NOT NULL THEN '[]'::jsonb
                    WHEN v_denied THEN v_plan->'current' ELSE v_plan->'revoke' END,
    'roles', CASE WHEN v_plan->>'refused' IS NOT NULL THEN '[]'::jsonb ELSE v_plan->'wanted' END,
    'skipped', v_plan->'skipped');
END
$fn$;

-- Team broker API (EXECUTE granted to rolecall_broker only) ---------------------

-- Wrong-password throttling, shared by every broker replica. A broker calls
-- throttle_enter before it asks the directory and throttle_leave after, in one
-- transaction: the row lock taken by enter makes concurrent sign-ins of the
-- same login (on any replica) wait, so the second sees the first's outcome.
-- Returns {"held": true, "held_until", "failures"} while a hold from an
-- earlier failure lasts (the broker then answers without asking the directory).
CREATE OR REPLACE FUNCTION rolecall.throttle_enter(p_login text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_key text;
  v_row rolecall.signin_throttle%ROWTYPE;
BEGIN
  PERFORM rolecall._check_caller('throttle_enter', p_login);
  PERFORM rolecall._check_bounds('throttle_enter', p_login, NULL, NULL, NULL);
  v_key := rolecall._name_key(p_login);
  BEGIN
    INSERT INTO rolecall.signin_throttle (name_key) VALUES (v_key) ON CONFLICT (name_key) DO NOTHING;
    SELECT * INTO v_row FROM rolecall.signin_throttle t WHERE t.name_key = v_key FOR UPDATE;
  EXCEPTION WHEN lock_not_available THEN
    PERFORM rolecall._refuse('throttle_enter', p_login, '55P03',
      pg_catalog.format('another sign-in of "%s" is still being checked', rolecall._shown(p_login)), 'Try again in a moment.');
  END;
  RETURN pg_catalog.jsonb_build_object(
    'held', v_row.held_until IS NOT NULL AND v_row.held_until > pg_catalog.clock_timestamp(),
    'held_until', v_row.held_until, 'failures', v_row.failures);
END
$fn$;

-- Records the outcome of the directory's password check: a failure holds the
-- login for p_hold_seconds (1 to 3600); a success clears it.
CREATE OR REPLACE FUNCTION rolecall.throttle_leave(p_login text, p_failed boolean, p_hold_seconds integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_row rolecall.signin_throttle%ROWTYPE;
BEGIN
  PERFORM rolecall._check_bounds('throttle_leave', p_login, NULL, NULL, NULL);
  IF p_failed IS NULL OR p_hold_seconds IS NULL OR p_hold_seconds NOT BETWEEN 1 AND 3600 THEN
    PERFORM rolecall._refuse('throttle_leave', p_login, '22023', 'p_failed must be true or false and p_hold_seconds from 1 to 3600');
  END IF;
  SELECT * INTO v_row FROM rolecall.signin_throttle t WHERE t.name_key = rolecall._name_key(p_login) FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM rolecall._refuse('throttle_leave', p_login, '55000', 'throttle_leave without throttle_enter in the same transaction');
  END IF;
  -- A success on a clean row writes nothing (a sign-in costs no write here).
  IF p_failed OR v_row.failures <> 0 OR v_row.held_until IS NOT NULL THEN
    UPDATE rolecall.signin_throttle t
    SET failures = CASE WHEN p_failed THEN t.failures + 1 ELSE 0 END,
        held_until = CASE WHEN p_failed THEN pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => p_hold_seconds) END,
        last_failure_at = CASE WHEN p_failed THEN pg_catalog.clock_timestamp() ELSE t.last_failure_at END
    WHERE t.name_key = v_row.name_key
    RETURNING * INTO v_row;
  END IF;
  RETURN pg_catalog.jsonb_build_object('held_until', v_row.held_until, 'failures', v_row.failures);
END
$fn$;

-- The logins the sweep reconciles with the directory: Rolecall logins that
-- can log in now (LOGIN, a VALID UNTIL still ahead) and that it still manages.
CREATE OR REPLACE FUNCTION rolecall.sweep_candidates()
RETURNS TABLE (login text, valid_until timestamptz, roles text[], last_sync_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT m.login, l.rolvaliduntil,
         ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
               WHERE a.member = l.oid AND a.grantor = o.oid ORDER BY 1),
         m.last_sync_at
  FROM rolecall.managed_login m
  JOIN pg_catalog.pg_roles l ON l.oid = m.role_oid AND l.rolname = m.login
  CROSS JOIN (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = 'rolecall_owner') o
  WHERE l.rolcanlogin AND (l.rolvaliduntil IS NULL OR l.rolvaliduntil > pg_catalog.now())
    AND rolecall._attribute_refusal(l.oid) IS NULL AND rolecall._power_refusal(l.oid, o.oid) IS NULL
  ORDER BY m.login
$fn$;

-- The sweep's answer for one login: its directory groups now. Takes back the
-- roles those groups no longer map to; when none is left, revokes the login
-- (NOLOGIN, sessions ended). Never grants and never sets a password: new
-- roles arrive at the user's next sign-in. Audited when it changed anything.
CREATE OR REPLACE FUNCTION rolecall.reconcile_login(p_login text, p_groups text[], p_reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_plan jsonb;
  v_revoke jsonb;
  v_terminated integer;
  v_disabled boolean;
  v_message text := p_reason;
BEGIN
  PERFORM rolecall._check_caller('reconcile_login', p_login);
  PERFORM rolecall._check_bounds('reconcile_login', p_login, p_groups, NULL, p_reason);
  PERFORM rolecall._lock_login('reconcile_login', p_login);
  v_plan := rolecall._plan(p_login, coalesce(p_groups, '{}'));
  IF v_plan->>'refused' IS NOT NULL THEN
    PERFORM rolecall._record_refusal('reconcile_login', p_login, '42501', v_plan->>'refused');
    RETURN pg_catalog.jsonb_build_object('existed', (v_plan->>'exists')::boolean, 'refused', v_plan->>'refused',
      'revoked', '[]'::jsonb, 'disabled', false);
  END IF;
  IF NOT (v_plan->>'exists')::boolean THEN
    RETURN pg_catalog.jsonb_build_object('existed', false, 'revoked', '[]'::jsonb, 'disabled', false);
  END IF;
  v_disabled := pg_catalog.jsonb_array_length(v_plan->'wanted') = 0;
  v_revoke := rolecall._revoke_roles(p_login,
    rolecall._text_array(CASE WHEN v_disabled THEN v_plan->'current' ELSE v_plan->'revoke' END));
  IF pg_catalog.jsonb_array_length(v_revoke->'failed') > 0 THEN
    v_disabled := true;
    v_message := pg_catalog.concat_ws('; ', v_message, 'could not take back '
      || pg_catalog.array_to_string(rolecall._text_array(v_revoke->'failed'), ', '));
  END IF;
  IF v_disabled THEN
    v_terminated := rolecall._disable_login(p_login, (v_plan->>'oid')::oid, true);
  END IF;
  IF v_disabled OR pg_catalog.jsonb_array_length(v_revoke->'revoked') > 0 THEN
    PERFORM rolecall._audit('reconcile', p_login, p_groups, '{}', rolecall._text_array(v_revoke->'revoked'),
      CASE WHEN v_disabled THEN 'revoked' ELSE 'updated' END, v_message, NULL);
  END IF;
  RETURN pg_catalog.jsonb_build_object('existed', true, 'revoked', v_revoke->'revoked', 'disabled', v_disabled,
    'terminated', v_terminated, 'roles', CASE WHEN v_disabled THEN '[]'::jsonb ELSE v_plan->'wanted' END);
END
$fn$;

-- The sweep lease: one holder at a time, by name. Acquires or renews it for
-- p_holder (a replica's name) on this connection for p_ttl_seconds (5 to
-- 3600). Another holder's lease is taken over once it expired or once the
-- session that holds it is gone. (An advisory lock could be taken and held
-- forever by any login; this row only by the broker.)
CREATE OR REPLACE FUNCTION rolecall.sweep_lease(p_holder text, p_ttl_seconds integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_row rolecall.lease%ROWTYPE;
BEGIN
  IF p_holder IS NULL OR p_holder = '' OR pg_catalog.octet_length(p_holder) > 200 OR p_ttl_seconds IS NULL OR p_ttl_seconds NOT BETWEEN 5 AND 3600 THEN
    PERFORM rolecall._refuse('sweep_lease', NULL, '22023', 'p_holder must be 1 to 200 bytes and p_ttl_seconds from 5 to 3600');
  END IF;
  INSERT INTO rolecall.lease AS l (name, holder, holder_pid, acquired_at, expires_at)
  VALUES ('sweep', p_holder, pg_catalog.pg_backend_pid(), pg_catalog.clock_timestamp(),
          pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => p_ttl_seconds))
  ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder, holder_pid = EXCLUDED.holder_pid, expires_at = EXCLUDED.expires_at,
        acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.holder_pid = EXCLUDED.holder_pid THEN l.acquired_at ELSE EXCLUDED.acquired_at END
    WHERE (l.holder = EXCLUDED.holder AND l.holder_pid = EXCLUDED.holder_pid)
       OR l.expires_at <= pg_catalog.clock_timestamp()
       OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.holder_pid);
  SELECT * INTO v_row FROM rolecall.lease l WHERE l.name = 'sweep';
  RETURN pg_catalog.jsonb_build_object(
    'held', v_row.holder = p_holder AND v_row.holder_pid = pg_catalog.pg_backend_pid(),
    'holder', v_row.holder, 'expires_at', v_row.expires_at, 'acquired_at', v_row.acquired_at);
END
$fn$;

-- Gives the lease up (a replica shutting down), so the next takes it at once.
CREATE OR REPLACE FUNCTION rolecall.sweep_release(p_holder text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  WITH gone AS (DELETE FROM rolecall.lease l WHERE l.name = 'sweep' AND l.holder = p_holder RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM gone)
$fn$;

-- Admin helpers (run by the admin as themselves; not callable by rolecall_sync) --

CREATE OR REPLACE FUNCTION rolecall.allow_group(group_name text, role_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_oid oid;
  v_reason text;
BEGIN
  IF allow_group.group_name IS NULL OR pg_catalog.btrim(allow_group.group_name) = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_name must not be empty';
  END IF;
  IF pg_catalog.octet_length(allow_group.group_name) > 1024 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_name must be at most 1024 bytes';
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
      MESSAGE = pg_catalog.format('Rolecall refuses to grant role "%s": %s', rolecall._shown(allow_group.role_name), v_reason),
      HINT = 'Rolecall hands out only plain NOLOGIN roles that hold table and schema privileges; grant predefined or powerful roles to people directly, never through a directory group.';
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
-- back from its logins at once (the next sync of each would too) and gives up
-- its ADMIN OPTION.
CREATE OR REPLACE FUNCTION rolecall.disallow_group(group_name text, role_name text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
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

-- Changes a setting. min_scram_iterations: the lowest SCRAM iteration count
-- sync_login accepts (4096, PostgreSQL's default, up to 10 000 000).
-- direct_mode: 'off' refuses every direct-mode sync login, so only the team
-- broker (rolecall_broker and its members) may sync logins.
CREATE OR REPLACE FUNCTION rolecall.configure(name text, value text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
BEGIN
  IF configure.name = 'min_scram_iterations' THEN
    IF configure.value !~ '^[0-9]{1,8}$' OR configure.value::integer NOT BETWEEN 4096 AND 10000000 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'min_scram_iterations must be a whole number from 4096 to 10000000';
    END IF;
  ELSIF configure.name = 'direct_mode' THEN
    IF configure.value IS NULL OR configure.value NOT IN ('on', 'off') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'direct_mode must be on or off';
    END IF;
  ELSE
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = pg_catalog.format('unknown setting "%s" (known: min_scram_iterations, direct_mode)', rolecall._shown(configure.name));
  END IF;
  INSERT INTO rolecall.setting (name, value) VALUES (configure.name, configure.value)
  ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE SET value = EXCLUDED.value, changed_at = pg_catalog.now();
  PERFORM rolecall._audit('configure', NULL, NULL, ARRAY[configure.name || '=' || configure.value], '{}', 'ok', NULL, NULL);
  RETURN (SELECT pg_catalog.jsonb_object_agg(s.name, s.value) FROM rolecall.setting s);
END
$fn$;

-- The session defaults of a principal that calls the sync functions (run as
-- the admin: only the role's admin may set them). The limits are defaults a
-- caller can SET (the functions bound them again); the log settings keep the
-- verifier parameter of sync_login out of the server log even where
-- log_statement = 'all' is set server-wide. Returns false when the log
-- settings could not be set (they need a superuser).
CREATE OR REPLACE FUNCTION rolecall._principal_defaults(p_role text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
BEGIN
  EXECUTE pg_catalog.format('ALTER ROLE %I SET statement_timeout = %L', p_role, '30s');
  EXECUTE pg_catalog.format('ALTER ROLE %I SET lock_timeout = %L', p_role, '5s');
  EXECUTE pg_catalog.format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', p_role, '60s');
  EXECUTE pg_catalog.format('ALTER ROLE %I SET default_transaction_isolation = %L', p_role, 'read committed');
  EXECUTE pg_catalog.format('ALTER ROLE %I SET log_parameter_max_length_on_error = 0', p_role);
  BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE %I SET log_statement = %L', p_role, 'none');
    EXECUTE pg_catalog.format('ALTER ROLE %I SET log_min_duration_statement = -1', p_role);
    EXECUTE pg_catalog.format('ALTER ROLE %I SET log_parameter_max_length = 0', p_role);
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not turn statement logging off for % (%): with log_statement=all the server log will show SCRAM verifiers (never passwords)', p_role, SQLERRM;
    RETURN false;
  END;
  RETURN true;
END
$fn$;

-- Creates a login for one broker replica set ('broker') or one machine in
-- direct mode ('direct'): a member of rolecall_broker or rolecall_sync with
-- their session defaults, created without a password (set one with \password).
-- One login per machine lets the audit name the machine and lets one be
-- turned off without touching the others.
CREATE OR REPLACE FUNCTION rolecall.add_principal(name text, kind text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_parent text;
BEGIN
  v_parent := CASE add_principal.kind WHEN 'broker' THEN 'rolecall_broker' WHEN 'direct' THEN 'rolecall_sync' END;
  IF v_parent IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'kind must be broker or direct';
  END IF;
  IF rolecall._name_refusal(add_principal.name) IS NOT NULL AND add_principal.name !~ '^rolecall_[a-z0-9_]+$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = pg_catalog.format('"%s" cannot be a principal: %s', rolecall._shown(add_principal.name), rolecall._name_refusal(add_principal.name));
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = add_principal.name) THEN
    RAISE EXCEPTION USING ERRCODE = '42710', MESSAGE = pg_catalog.format('role "%s" already exists', add_principal.name);
  END IF;
  EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT IN ROLE %I',
    add_principal.name, v_parent);
  PERFORM rolecall._principal_defaults(add_principal.name);
  PERFORM rolecall._audit('add_principal', add_principal.name, NULL, ARRAY[v_parent]::text[], '{}', 'ok', NULL, NULL);
  RETURN pg_catalog.format('created %s (member of %s); now set its password: \password %s', add_principal.name, v_parent, add_principal.name);
END
$fn$;

-- Runs as the owner (the grantor of Rolecall's memberships): revokes a role
-- from every managed login that holds it from Rolecall.
CREATE OR REPLACE FUNCTION rolecall._release_role(p_role text) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_logins text[];
  v_login text;
BEGIN
  SELECT coalesce(pg_catalog.array_agg(DISTINCT m.login ORDER BY m.login), '{}') INTO v_logins
  FROM rolecall.managed_login m
  JOIN pg_catalog.pg_roles l ON l.oid = m.role_oid AND l.rolname = m.login
  JOIN pg_catalog.pg_auth_members a ON a.member = l.oid AND a.grantor = (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = 'rolecall_owner')
  JOIN pg_catalog.pg_roles r ON r.oid = a.roleid AND r.rolname = p_role;
  FOREACH v_login IN ARRAY v_logins LOOP
    EXECUTE pg_catalog.format('REVOKE %I FROM %I', p_role, v_login);
  END LOOP;
  RETURN v_logins;
END
$fn$;

-- Used by uninstall.sql: every managed login loses every role Rolecall
-- granted, and ends NOLOGIN unless an admin made it powerful (then it is left
-- to the admin). The logins themselves stay (they may own objects).
CREATE OR REPLACE FUNCTION rolecall._release_all_logins() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_login record;
  v_revoke jsonb;
  v_count integer := 0;
BEGIN
  FOR v_login IN
    SELECT m.login, l.oid FROM rolecall.managed_login m
    JOIN pg_catalog.pg_roles l ON l.oid = m.role_oid AND l.rolname = m.login
  LOOP
    v_revoke := rolecall._revoke_roles(v_login.login, rolecall._text_array(rolecall._plan(v_login.login, '{}')->'current'));
    IF pg_catalog.jsonb_array_length(v_revoke->'failed') > 0 THEN
      RAISE WARNING 'rolecall: could not take back % from login "%"', pg_catalog.array_to_string(rolecall._text_array(v_revoke->'failed'), ', '), v_login.login;
    END IF;
    IF rolecall._attribute_refusal(v_login.oid) IS NULL THEN
      EXECUTE pg_catalog.format('ALTER ROLE %I NOLOGIN', v_login.login);
    END IF;
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END
$fn$;

-- Run by install.sql on every install: brings logins left by an older version
-- (or changed by an admin since) back within today's rules, and audits what it
-- changed. For each managed login that is not refused outright:
-- - memberships Rolecall granted that are no longer wanted by any allow-list
--   entry or may no longer be handed out are revoked (if one cannot be, the
--   login is disabled);
-- - a VALID UNTIL beyond 366 days (or none) is set to now: the next sign-in
--   syncs a fresh password;
-- - PostgreSQL 16+: a membership of the owner in the login with INHERIT or SET
--   (left by a caller's createrole_self_grant) is revoked.
CREATE OR REPLACE FUNCTION rolecall._repair() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict error
#print_strict_params off
DECLARE
  v_owner oid := (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = 'rolecall_owner');
  v_login record;
  v_bad text[];
  v_revoke jsonb;
  v_notes text[];
  v_count integer := 0;
BEGIN
  FOR v_login IN
    SELECT m.login, l.oid, l.rolvaliduntil FROM rolecall.managed_login m
    JOIN pg_catalog.pg_roles l ON l.oid = m.role_oid AND l.rolname = m.login
    WHERE rolecall._attribute_refusal(l.oid) IS NULL AND rolecall._power_refusal(l.oid, v_owner) IS NULL
    ORDER BY m.login
  LOOP
    v_notes := '{}';
    IF pg_catalog.current_setting('server_version_num')::integer >= 160000
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a WHERE a.roleid = v_login.oid AND a.member = v_owner AND a.grantor = v_owner) THEN
      EXECUTE pg_catalog.format('REVOKE %I FROM rolecall_owner', v_login.login);
      v_notes := v_notes || 'the owner''s own membership in the login'::text;
    END IF;

    SELECT coalesce(pg_catalog.array_agg(r.rolname::text ORDER BY r.rolname::text COLLATE "C"), '{}') INTO v_bad
    FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
    WHERE a.member = v_login.oid AND a.grantor = v_owner
      AND (rolecall._group_refusal(r.oid) IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM rolecall.group_role gr WHERE gr.role_name = r.rolname));
    v_revoke := rolecall._revoke_roles(v_login.login, v_bad);
    IF pg_catalog.jsonb_array_length(v_revoke->'failed') > 0 THEN
      PERFORM rolecall._disable_login(v_login.login, v_login.oid, true);
      v_notes := v_notes || ('disabled: could not take back ' || pg_catalog.array_to_string(rolecall._text_array(v_revoke->'failed'), ', '));
    END IF;

    IF v_login.rolvaliduntil IS NULL OR NOT pg_catalog.isfinite(v_login.rolvaliduntil)
       OR v_login.rolvaliduntil > pg_catalog.now() + interval '366 days' THEN
      EXECUTE pg_catalog.format('ALTER ROLE %I VALID UNTIL %L', v_login.login,
        pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
      v_notes := v_notes || 'VALID UNTIL capped'::text;
    END IF;

    IF pg_catalog.jsonb_array_length(v_revoke->'revoked') > 0 OR pg_catalog.cardinality(v_notes) > 0 THEN
      PERFORM rolecall._audit('repair', v_login.login, NULL, '{}', rolecall._text_array(v_revoke->'revoked'), 'repaired',
        pg_catalog.array_to_string(v_notes, '; '), NULL);
      v_count := v_count + 1;
    END IF;
  END LOOP;
  RETURN v_count;
END
$fn$;

-- Session settings every function runs under, whatever the caller set:
-- lock waits end after 5 s; the password statement always stores the verifier
-- as given; dates and NULL comparisons mean what the code says;
-- and on PostgreSQL 16+ creating a login never makes the owner a member of it.
DO $pin_settings$
DECLARE
  v_fn regprocedure;
  v_pg16 boolean := pg_catalog.current_setting('server_version_num')::integer >= 160000;
BEGIN
  FOR v_fn IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'rolecall'::regnamespace AND p.prokind = 'f'
      AND (p.prosecdef OR p.proname IN ('allow_group', 'disallow_group', 'configure', 'add_principal'))
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET lock_timeout = %L', v_fn, '5s');
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET password_encryption = %L', v_fn, 'scram-sha-256');
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET default_transaction_isolation = %L', v_fn, 'read committed');
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET timezone = %L', v_fn, 'UTC');
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET datestyle = %L', v_fn, 'ISO, YMD');
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET intervalstyle = %L', v_fn, 'postgres');
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET standard_conforming_strings = on', v_fn);
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET transform_null_equals = off', v_fn);
    IF v_pg16 THEN
      EXECUTE pg_catalog.format('ALTER FUNCTION %s SET createrole_self_grant = %L', v_fn, '');
    END IF;
  END LOOP;
END
$pin_settings$;

-- Privileges --------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rolecall FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  rolecall.version(),
  rolecall.sync_parameters(),
  rolecall.sync_login(text, text, text[], interval, jsonb),
  rolecall.revoke_login(text, text),
  rolecall.preview_sync(text, text[])
TO rolecall_sync, rolecall_broker;
GRANT EXECUTE ON FUNCTION
  rolecall.throttle_enter(text),
  rolecall.throttle_leave(text, boolean, integer),
  rolecall.sweep_candidates(),
  rolecall.reconcile_login(text, text[], text),
  rolecall.sweep_lease(text, integer),
  rolecall.sweep_release(text)
TO rolecall_broker;

RESET ROLE;

-- Session defaults for the sync logins: rolecall_sync, rolecall_broker and
-- every login made a member of either (add_principal).
DO $principal_defaults$
DECLARE
  v_role text;
BEGIN
  FOR v_role IN
    SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.rolname IN ('rolecall_sync', 'rolecall_broker')
    UNION
    SELECT r.rolname FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles r ON r.oid = a.member
    WHERE a.roleid IN (SELECT p.oid FROM pg_catalog.pg_roles p WHERE p.rolname IN ('rolecall_sync', 'rolecall_broker'))
    ORDER BY 1
  LOOP
    PERFORM rolecall._principal_defaults(v_role);
  END LOOP;
END
$principal_defaults$;

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

-- Upgrade repair: logins an older version (or an admin since) left outside
-- today's rules are brought back within them, and audited.
DO $install_repair$
DECLARE
  v_repaired integer := rolecall._repair();
BEGIN
  IF v_repaired > 0 THEN
    RAISE WARNING 'rolecall: repaired % managed login(s); see rolecall.audit (action ''repair'')', v_repaired;
  END IF;
END
$install_repair$;

COMMIT;
