'use strict';
// node-postgres against the pooler (integration/drivers_test.go runs it
// with PGHOST, PGPORT, PGUSER and PGDATABASE set): named queries, which
// node-postgres prepares once per connection, run by concurrent workers
// over a pg.Pool with more connections than the pooler has servers, plus
// unnamed parameterised queries, errors and transactions. Exit status 0
// means every result was right.

const assert = require('node:assert/strict');
const pg = require('pg');

const WORKERS = 20;
const ROUNDS = 10;

const pool = new pg.Pool({ max: 10, connectionTimeoutMillis: 30000 });

async function worker(w) {
  for (let r = 0; r < ROUNDS; r++) {
    const i = w * 1000 + r;
    let res = await pool.query({ name: 'q1', text: 'select $1::int + 1 as n', values: [i] });
    assert.equal(res.rows[0].n, i + 1, 'q1');

    res = await pool.query({
      name: 'types',
      text: 'select $1::text || $2::text as s, not $3::bool as b, $4::float8 / 2 as f, $5::jsonb as j, ' +
        '$6::int8 * 2 as big, $7::int as nul, $8::bytea as bin, $9::int[] as arr',
      values: ['w', String(w), r % 2 === 0, 2.5, { w, r }, '4503599627370497', null, Buffer.from([0, w, 255]), [1, w, r]],
    });
    assert.deepEqual(res.rows[0], {
      s: 'w' + w, b: r % 2 !== 0, f: 1.25, j: { w, r }, big: '9007199254740994', nul: null,
      bin: Buffer.from([0, w, 255]), arr: [1, w, r],
    }, 'types');

    // Different statements under names shared by some workers.
    const k = (w + r) % 5;
    res = await pool.query({ name: `mul${k}`, text: `select $1::int * ${k} as n`, values: [i] });
    assert.equal(res.rows[0].n, i * k, `mul${k}`);

    res = await pool.query('select $1::text as t, $2::int as n', ['unnamed', r]);
    assert.deepEqual(res.rows[0], { t: 'unnamed', n: r }, 'unnamed');

    // An error in a named query leaves the connection usable.
    await assert.rejects(
      pool.query({ name: 'div', text: 'select 1 / $1::int as d', values: [0] }),
      (err) => err.code === '22012',
      'division by zero');
    res = await pool.query({ name: 'div', text: 'select 1 / $1::int as d', values: [1] });
    assert.equal(res.rows[0].d, 1, 'div after the error');

    await transaction(w, r);
  }
}

// transaction writes with named queries in a transaction on one connection
// and reads its own writes; then a failing transaction is rolled back.
async function transaction(w, r) {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query({ name: 'ins', text: 'insert into drv_node(w, r, v) values ($1, $2, $3)', values: [w, r, `v${w}/${r}`] });
    let res = await client.query({ name: 'count', text: 'select count(*)::int as n, pg_backend_pid() as pid from drv_node where w = $1', values: [w] });
    assert.equal(res.rows[0].n, r + 1, 'own writes');
    const pid = res.rows[0].pid;
    res = await client.query({ name: 'pid', text: 'select pg_backend_pid() as pid' });
    assert.equal(res.rows[0].pid, pid, 'the transaction stays on its server');
    await client.query('commit');

    await client.query('begin');
    await client.query({ name: 'ins', text: 'insert into drv_node(w, r, v) values ($1, $2, $3)', values: [w, -1 - r, 'rolled back'] });
    await assert.rejects(
      client.query({ name: 'ins', text: 'insert into drv_node(w, r, v) values ($1, $2, $3)', values: [w, r, 'duplicate'] }),
      (err) => err.code === '23505',
      'duplicate key');
    await client.query('rollback');
  } finally {
    client.release();
  }
}

async function main() {
  await pool.query('drop table if exists drv_node; create table drv_node(w int, r int, v text, primary key (w, r))');
  const workers = [];
  for (let w = 0; w < WORKERS; w++) {
    workers.push(worker(w));
  }
  const results = await Promise.allSettled(workers);
  const failed = results.filter((x) => x.status === 'rejected');
  for (const f of failed.slice(0, 5)) {
    console.error(f.reason);
  }
  if (failed.length > 0) {
    throw new Error(`${failed.length} of ${WORKERS} workers failed`);
  }
  const res = await pool.query('select count(*)::int as n, count(*) filter (where v = \'v\' || w || \'/\' || r)::int as good from drv_node');
  assert.deepEqual(res.rows[0], { n: WORKERS * ROUNDS, good: WORKERS * ROUNDS }, 'committed rows');
  console.log(`node-postgres ${require('pg/package.json').version}: ${WORKERS} workers x ${ROUNDS} rounds over ${pool.options.max} connections: ok`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => pool.end());
