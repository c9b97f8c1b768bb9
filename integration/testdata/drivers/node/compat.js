'use strict';
// node-postgres's own expectations of PostgreSQL, run against PostgreSQL
// and through the pooler (integration/compat_test.go compares what it
// prints): a connection ended at once (it sends Terminate before its
// startup packet) ends without an error; a session's backend terminated
// by pid gives PostgreSQL's error, then the end. PGHOST, PGPORT,
// PGUSER and PGDATABASE say where; ADMIN_PORT is PostgreSQL's own port.

const pg = require('pg');

async function endAtOnce() {
  const c = new pg.Client();
  const errors = [];
  c.on('error', (e) => errors.push(e.code || e.message));
  let connect = 'unsettled';
  c.connect().then(() => { connect = 'connected'; }, (e) => { connect = 'failed: ' + (e.code || e.message); });
  await c.end();
  // Whatever connect() and the socket still have to say, a moment after.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { connect, errors };
}

async function terminated() {
  const c = new pg.Client();
  const errors = [];
  c.on('error', (e) => errors.push(`${e.severity} ${e.code} ${e.message}`));
  await c.connect();
  const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid;
  const ended = new Promise((resolve) => c.on('end', resolve));
  const admin = new pg.Client({ port: Number(process.env.ADMIN_PORT) });
  await admin.connect();
  await admin.query('select pg_terminate_backend($1, 10000)', [pid]);
  await admin.end();
  await ended;
  return { pidMatches: pid === c.processID, errors };
}

(async () => {
  const out = { endAtOnce: await endAtOnce(), terminated: await terminated() };
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
