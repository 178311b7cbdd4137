"""psycopg 3 (libpq) through the proxy: one scenario per run, one JSON line of what it saw.

usage: psycopg_probe.py SCENARIO PORT USER PASSWORD
"""
import json
import sys
import threading

import psycopg

SCENARIO, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def connect(**extra):
    # One application_name per scenario: the server connections the proxy keeps for one are never another's.
    return psycopg.connect(host="127.0.0.1", port=PORT, user=USER, password=PASSWORD, dbname="app", connect_timeout=10, application_name=f"psycopg3-{SCENARIO}", **extra)


def login():
    with connect() as c:
        who, n = c.execute("select current_user, count(*) from hr.employees").fetchone()
        return {"user": who, "employees": n}


def denied():
    try:
        connect().close()
    except psycopg.OperationalError as e:
        # libpq keeps no SQLSTATE for a refused connection; the server's message is in the text.
        return {"sqlstate": e.sqlstate, "message": str(e)}
    return {"message": None}


def prepared():
    with connect() as c:
        # prepare=True: a named server-side statement (Parse once, Bind/Execute after).
        doubled = [c.execute("select %s::int * 2", (i,), prepare=True).fetchone()[0] for i in range(3)]
        c.execute("create temp table seen(id int)")
        with c.cursor() as cur:
            cur.executemany("insert into seen values (%s)", [(i,) for i in range(50)])
        # Pipeline mode: several extended-protocol queries in flight before one Sync.
        with c.pipeline():
            a = c.execute("select %s::text", ("one",))
            b = c.execute("select %s::int + 1", (41,))
        prepared_names = c.execute("select count(*) from pg_prepared_statements").fetchone()[0]
        return {"doubled": doubled, "total": c.execute("select sum(id) from seen").fetchone()[0], "pipeline": [a.fetchone()[0], b.fetchone()[0]], "prepared": prepared_names}


def copy():
    with connect() as c:
        c.execute("create temp table t(id int, name text)")
        with c.cursor() as cur:
            with cur.copy("copy t from stdin") as cp:
                for i in range(1000):
                    cp.write_row((i, f"n{i}"))
            lines = []
            with cur.copy("copy (select * from t order by id) to stdout (format csv)") as cp:
                for data in cp:
                    lines.extend(bytes(data).decode().splitlines())
        return {"count": c.execute("select count(*) from t").fetchone()[0], "out_lines": len(lines), "last": lines[-1]}


def cancel():
    with connect(autocommit=True) as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        timer = threading.Timer(0.3, c.cancel)
        timer.start()
        try:
            c.execute("select pg_sleep(600)")
            sqlstate = None
        except psycopg.errors.QueryCanceled as e:
            sqlstate = e.sqlstate
        finally:
            timer.cancel()
        return {"sqlstate": sqlstate, "after": c.execute("select 1").fetchone()[0], "same_backend": c.execute("select pg_backend_pid()").fetchone()[0] == pid}


def close_with(autocommit):
    first = connect(autocommit=autocommit)
    pid = first.execute("select pg_backend_pid()").fetchone()[0]
    # Not autocommit: psycopg began a transaction, and close() leaves it open (PostgreSQL rolls it back).
    first.close()
    with connect() as second:
        return {"pid_before": pid, "pid_after": second.execute("select pg_backend_pid()").fetchone()[0]}


def close():
    return close_with(True)


def close_in_transaction():
    return close_with(False)


print(json.dumps(globals()[SCENARIO](), default=str))
