"""psycopg 3 against the pooler.

integration/drivers_test.go runs it with Debian's /usr/bin/python3 and
python3-psycopg, and PGHOST, PGPORT, PGUSER and PGDATABASE set. Threads,
each with its own connection (half of them in autocommit, half with
psycopg's implicit transactions), run with prepare_threshold=0, so every
query is a prepared statement, and with a statement cache (prepared_max)
smaller than the queries they run, so psycopg deallocates statements all
along. Each round has typed parameters, transactions committed and rolled
back, and pipeline mode, one pipeline failing midway. Exit status 0 means
every result was right.
"""

import datetime
import logging
import sys
import threading
import traceback
from decimal import Decimal

import psycopg
from psycopg import errors

THREADS = 8
ROUNDS = 12


def check(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def one(conn, query, params=None):
    return conn.execute(query, params).fetchone()


def round_(conn, t, r):
    i = t * 1000 + r
    check(one(conn, "select %s::int + 1", (i,)), (i + 1,), "int")

    row = one(
        conn,
        "select %s::text || %s::text, not %s, %s::float8 / 2, %s::numeric * 2,"
        " %s::date + 1, %s::bytea, %s::int[], %s::int, %s::int8 * 2",
        ("t", str(t), r % 2 == 0, 2.5, Decimal("1.25"), datetime.date(2024, 2, 28),
         bytes([0, t, 255]), [1, t, r], None, 1 << 40),
    )
    check(row, ("t" + str(t), r % 2 != 0, 1.25, Decimal("2.50"), datetime.date(2024, 2, 29),
                bytes([0, t, 255]), [1, t, r], None, 1 << 41), "types")

    # More statements than prepared_max: psycopg deallocates the oldest.
    for k in range(8):
        k = (k + t) % 8
        check(one(conn, f"select %s::int * {k}", (r,)), (r * k,), f"statement {k}")

    # A transaction (a savepoint when psycopg already opened one).
    with conn.transaction():
        conn.execute("insert into drv_py(t, r, v) values (%s, %s, %s)", (t, r, f"v{t}/{r}"))
        check(one(conn, "select count(*) from drv_py where t = %s", (t,)), (r + 1,), "own writes")
        pid = one(conn, "select pg_backend_pid()")
        check(one(conn, "select pg_backend_pid() + 0"), pid, "the transaction stays on its server")

    # A failing transaction, rolled back.
    try:
        with conn.transaction():
            conn.execute("insert into drv_py(t, r, v) values (%s, %s, 'rolled back')", (t, -1 - r))
            conn.execute("insert into drv_py(t, r, v) values (%s, %s, 'duplicate')", (t, r))
    except errors.UniqueViolation:
        pass
    else:
        raise AssertionError("duplicate key: no error")

    if not conn.autocommit:
        conn.commit()

    # Pipeline mode: several queries sent before any result is read, and
    # executemany (pipelined by psycopg).
    with conn.pipeline():
        curs = [conn.execute("select %s::int + %s::int", (i, k)) for k in range(5)]
        conn.cursor().executemany(
            "insert into drv_py_many(t, r, k) values (%s, %s, %s)", [(t, r, k) for k in range(3)]
        )
        count = conn.execute("select count(*) from drv_py_many where t = %s", (t,))
    for k, cur in enumerate(curs):
        check(cur.fetchone(), (i + k,), f"pipeline {k}")
    check(count.fetchone(), (3 * (r + 1),), "pipeline count")
    if not conn.autocommit:
        conn.commit()

    # A pipeline failing midway: the queries after the error are aborted.
    # (Not prepared: psycopg before 3.1.10 would take its aborted Parse for
    # a prepared statement, psycopg's bug #585.)
    try:
        with conn.pipeline():
            first = conn.execute("select %s::int + 10", (r,))
            conn.execute("select 1 / %s::int", (0,))
            conn.execute("select %s::int + 20", (r,), prepare=False)
    except errors.DivisionByZero:
        pass
    else:
        raise AssertionError("division by zero in a pipeline: no error")
    check(first.fetchone(), (r + 10,), "before the error in the pipeline")
    if not conn.autocommit:
        conn.rollback()
    check(one(conn, "select %s::int + 30", (r,)), (r + 30,), "after the failed pipeline")
    if not conn.autocommit:
        conn.commit()


def worker(t, failures):
    try:
        with psycopg.connect(prepare_threshold=0, autocommit=(t % 2 == 0)) as conn:
            conn.prepared_max = 6
            for r in range(ROUNDS):
                try:
                    round_(conn, t, r)
                except Exception as e:
                    raise AssertionError(f"thread {t} round {r}: {type(e).__name__}: {e}\n"
                                         + traceback.format_exc()) from e
    except Exception as e:
        failures.append(e)


def main():
    # psycopg warns when a pipeline ends in an error; here that is expected.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    if not psycopg.Pipeline.is_supported():
        sys.exit(f"psycopg {psycopg.__version__}: pipeline mode needs libpq 14 or later")
    with psycopg.connect(autocommit=True) as conn:
        conn.execute("drop table if exists drv_py, drv_py_many")
        conn.execute("create table drv_py(t int, r int, v text, primary key (t, r))")
        conn.execute("create table drv_py_many(t int, r int, k int, primary key (t, r, k))")

    failures = []
    threads = [threading.Thread(target=worker, args=(t, failures)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for f in failures[:5]:
        print(f, file=sys.stderr)
    if failures:
        sys.exit(f"{len(failures)} of {THREADS} threads failed")

    with psycopg.connect(autocommit=True) as conn:
        rows = one(conn, "select count(*), count(*) filter (where v = 'v' || t || '/' || r) from drv_py")
        check(rows, (THREADS * ROUNDS, THREADS * ROUNDS), "committed rows")
        check(one(conn, "select count(*) from drv_py_many"), (THREADS * ROUNDS * 3,), "executemany rows")
    print(f"psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}): "
          f"{THREADS} threads x {ROUNDS} rounds: ok")


if __name__ == "__main__":
    main()
