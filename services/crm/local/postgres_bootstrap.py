"""What the embedded PostgreSQL's superuser sets up at every start (a psql script, idempotent).

* Passwords: the superuser's and `crm_app`'s, from their files (scram-sha-256; `pg_hba.conf`
  then asks every TCP login for one: `HBA`).
* `crm_app`: LOGIN, CREATEDB (the tests and benchmarks make databases of their own), nothing
  else: no superuser, no CREATEROLE (in PostgreSQL 15 that could grant itself
  `pg_execute_server_program`), no replication, no BYPASSRLS. It owns the `crm` database and,
  through the migrations it runs, every table in it.
* `crm_partner_reader`, the group of the partners' SQL logins (`crm sql grant`), NOLOGIN.
* A data directory of an older release, where the superuser owned everything, hands its schemas,
  tables, views, sequences, functions and types in `crm` over to `crm_app`.
* The catalogue statistics that count rows of every partner (`pg_class.reltuples`, `relpages`,
  `relallvisible`; the `pg_stat_get_*` counters behind `pg_stat_user_tables` and
  `pg_stat_database`; the relation and database size functions) are withheld from PUBLIC in
  `template1` (so every database made later has it too) and `crm`; `crm_app` and
  `pg_read_all_stats` keep them. docs/sql-access.md says what PostgreSQL still shows.

Passwords reach psql on stdin (`\\set`), never on a command line.
"""

HBA = """\
# Written by crm at every start of the embedded server (crm/local/postgres_server.py):
# a password for every login, scram-sha-256 only. Unix sockets are off.
local all all scram-sha-256
host all all all scram-sha-256
host replication all all scram-sha-256
"""

READER = "crm_partner_reader"
# pg_class columns that reveal how many rows a table holds (of every partner).
_COUNTING_COLUMNS = ("reltuples", "relpages", "relallvisible")
_SIZE_FUNCTIONS = (
    "pg_relation_size(regclass)",
    "pg_relation_size(regclass, text)",
    "pg_table_size(regclass)",
    "pg_indexes_size(regclass)",
    "pg_total_relation_size(regclass)",
    "pg_database_size(oid)",
    "pg_database_size(name)",
)


def withhold_statistics(app_role: str) -> str:
    """SQL for one database (run by a superuser, idempotent) withholding from PUBLIC the
    catalogue figures that count every partner's rows; `app_role` and pg_read_all_stats keep them."""
    counting = ", ".join(f"'{column}'" for column in _COUNTING_COLUMNS)
    sizes = ", ".join(f"'pg_catalog.{f}'" for f in _SIZE_FUNCTIONS)
    return f"""
DO $$
DECLARE
    routine regprocedure;
BEGIN
    REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC;
    EXECUTE (SELECT format('GRANT SELECT (%s) ON pg_catalog.pg_class TO PUBLIC', string_agg(quote_ident(attname), ', '))
             FROM pg_catalog.pg_attribute
             WHERE attrelid = 'pg_catalog.pg_class'::regclass AND attnum > 0 AND NOT attisdropped
               AND attname NOT IN ({counting}));
    GRANT SELECT ON pg_catalog.pg_class TO {app_role}, pg_read_all_stats;
    FOR routine IN
        SELECT oid::regprocedure FROM pg_catalog.pg_proc
        WHERE pronamespace = 'pg_catalog'::regnamespace AND proname LIKE 'pg\\_stat\\_get\\_%'
          AND pronargs = 1 AND proargtypes[0] = 'oid'::regtype
        UNION ALL
        SELECT unnest(ARRAY[{sizes}])::regprocedure
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', routine);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO {app_role}, pg_read_all_stats', routine);
    END LOOP;
END $$;
"""


# (what, the objects of a role in the user's schemas, the statement handing one over)
_OWNED = (
    (
        "schemas",
        "SELECT quote_ident(nspname) FROM pg_namespace n WHERE nspowner = {owner} AND {user_schema}",
        "ALTER SCHEMA %s OWNER TO {app_role}",
    ),
    (
        "tables",
        "SELECT oid::regclass::text FROM pg_class WHERE relowner = {owner}"
        " AND relkind IN ('r', 'p', 'f') AND {in_user_schema}",
        "ALTER TABLE %s OWNER TO {app_role}",
    ),
    (
        "views",
        "SELECT oid::regclass::text FROM pg_class WHERE relowner = {owner} AND relkind IN ('v', 'm')"
        " AND {in_user_schema}",
        "ALTER TABLE %s OWNER TO {app_role}",
    ),
    # sequences a table owns moved with it; these are the free-standing ones
    (
        "sequences",
        "SELECT oid::regclass::text FROM pg_class WHERE relowner = {owner} AND relkind = 'S' AND {in_user_schema}",
        "ALTER SEQUENCE %s OWNER TO {app_role}",
    ),
    (
        "routines",
        "SELECT oid::regprocedure::text FROM pg_proc WHERE proowner = {owner}"
        " AND pronamespace IN (SELECT oid FROM pg_namespace n WHERE {user_schema})",
        "ALTER ROUTINE %s OWNER TO {app_role}",
    ),
    (
        "types",
        "SELECT oid::regtype::text FROM pg_type WHERE typowner = {owner} AND typtype IN ('e', 'd', 'r', 'm')"
        " AND typnamespace IN (SELECT oid FROM pg_namespace n WHERE {user_schema})",
        "ALTER TYPE %s OWNER TO {app_role}",
    ),
)


def hand_over(superuser: str, app_role: str) -> str:
    """SQL (run in one database) giving `app_role` what `superuser` owns in its user schemas."""
    names = {
        "owner": f"'{superuser}'::regrole",
        "user_schema": "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
        "in_user_schema": "relnamespace IN (SELECT oid FROM pg_namespace n WHERE"
        " n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema')",
        "app_role": app_role,
    }
    loops = "\n".join(
        f"    FOR name IN {query.format(**names)} LOOP EXECUTE format('{alter.format(**names)}', name); END LOOP;"
        for _, query, alter in _OWNED
    )
    return f"DO $$\nDECLARE\n    name text;\nBEGIN\n{loops}\nEND $$;\n"


def bootstrap_script(
    *, superuser: str, superuser_password: str, app_role: str, app_password: str, database: str
) -> str:
    """The psql script, to be run as `superuser` in database `postgres`."""
    return f"""
SET log_min_error_statement = panic;  -- a failing statement with a password is not logged
\\set superuser_password '{superuser_password}'
\\set app_password '{app_password}'
ALTER ROLE {superuser} PASSWORD :'superuser_password';
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{app_role}') AS missing \\gset
\\if :missing
CREATE ROLE {app_role} LOGIN;
\\endif
ALTER ROLE {app_role} WITH LOGIN NOSUPERUSER NOCREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{READER}') AS missing \\gset
\\if :missing
CREATE ROLE {READER} NOLOGIN;
\\endif
\\connect template1
{withhold_statistics(app_role)}
\\connect postgres
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = '{database}') AS missing \\gset
\\if :missing
CREATE DATABASE {database} OWNER {app_role};
\\endif
ALTER DATABASE {database} OWNER TO {app_role};
\\connect {database}
{hand_over(superuser, app_role)}
{withhold_statistics(app_role)}
"""
