"""asyncpg through the proxy: one scenario per run, one JSON line of what it saw.

usage: asyncpg_probe.py SCENARIO PORT USER PASSWORD
"""
import asyncio
import io
import json
import sys
import time

import asyncpg

SCENARIO, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# A safety net for a hung proxy only; no assertion depends on it.
GUARD_S = 60


# One application_name per scenario: the server connections the proxy keeps for one are never another's.
OPTIONS = dict(host="127.0.0.1", port=PORT, user=USER, password=PASSWORD, database="app", server_settings={"application_name": f"asyncpg-{SCENARIO}"})


def connect():
    return asyncpg.connect(**OPTIONS)


async def login():
    c = await connect()
    try:
        row = await c.fetchrow("select current_user as who, count(*) as n from hr.employees")
        return {"user": row["who"], "employees": row["n"]}
    finally:
        await c.close()


async def denied():
    try:
        c = await connect()
    except asyncpg.PostgresError as e:
        return {"sqlstate": e.sqlstate, "message": str(e)}
    await c.close()
    return {"sqlstate": None}


async def prepared():
    c = await connect()
    try:
        stmt = await c.prepare("select $1::int * 2 as doubled, current_user as who")
        doubled = [(await stmt.fetchrow(i))["doubled"] for i in range(3)]
        await c.execute("create temp table seen(id int)")
        await c.executemany("insert into seen values ($1)", [(i,) for i in range(50)])
        total = await c.fetchval("select sum(id) from seen")
        # asyncpg caches statements by text: the second call reuses the server-side one.
        again = await c.fetchval("select $1::int * 2 as doubled, current_user as who", 21)
        return {"doubled": doubled, "total": total, "again": again, "who": (await stmt.fetchrow(0))["who"]}
    finally:
        await c.close()


async def copy():
    c = await connect()
    try:
        await c.execute("create temp table t(id int, name text)")
        result = await c.copy_records_to_table("t", records=[(i, f"n{i}") for i in range(1000)])
        out = io.BytesIO()
        await c.copy_from_query("select * from t order by id", output=out, format="csv")
        lines = out.getvalue().decode().splitlines()
        return {"copy_in": result, "count": await c.fetchval("select count(*) from t"), "out_lines": len(lines), "last": lines[-1]}
    finally:
        await c.close()


async def cancel():
    c = await connect()
    try:
        pid = await c.fetchval("select pg_backend_pid()")
        # asyncpg sends a CancelRequest (on a connection of its own) when a query's timeout passes.
        try:
            await c.execute("select pg_sleep(600)", timeout=0.5)
            cancelled = False
        except asyncio.TimeoutError:
            cancelled = True
        # The backend answers again, so the cancel ended its 600 s sleep.
        return {"timed_out": cancelled, "after": await c.fetchval("select 1"), "same_backend": await c.fetchval("select pg_backend_pid()") == pid}
    finally:
        await c.close()


async def close():
    """Connection.close() sends Terminate and waits for the server to drop the connection."""
    first = await connect()
    pid = await first.fetchval("select pg_backend_pid()")
    started = time.monotonic()
    await first.close()
    close_ms = (time.monotonic() - started) * 1000
    second = await connect()
    try:
        return {"pid_before": pid, "pid_after": await second.fetchval("select pg_backend_pid()"), "close_ms": round(close_ms, 1)}
    finally:
        await second.close()


async def pool():
    """Pool.close() closes every connection of the pool the same way."""
    async def pids_of(p):
        conns = [await p.acquire() for _ in range(2)]
        pids = sorted([await conn.fetchval("select pg_backend_pid()") for conn in conns])
        for conn in conns:
            await p.release(conn)
        return pids

    p = await asyncpg.create_pool(**OPTIONS, min_size=2, max_size=2)
    before = await pids_of(p)
    started = time.monotonic()
    await p.close()
    close_ms = (time.monotonic() - started) * 1000
    p = await asyncpg.create_pool(**OPTIONS, min_size=2, max_size=2)
    after = await pids_of(p)
    await p.close()
    return {"pids_before": before, "pids_after": after, "close_ms": round(close_ms, 1)}


async def main():
    scenario = globals()[SCENARIO]
    print(json.dumps(await asyncio.wait_for(scenario(), GUARD_S), default=str))


asyncio.run(main())
