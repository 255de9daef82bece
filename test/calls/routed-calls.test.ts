/**
 * Calls carried between servers (src/server/calls/routed-calls.ts, src/store/pg/calls.ts) at
 * their seam, on a real PostgreSQL with no daemon around them: two PgStores play servers A
 * (asking) and B (holding the agents), each with its CallRouter. Pins what the cluster
 * process tests cannot pin cheaply:
 * - the holder gets the asker's client as the caller, and what is left of the timeout; a call
 *   not taken within its timeout is never taken;
 * - a holder writes the lines of the calls it took together in one statement; a line the asker
 *   reads before its ask resolved is kept for the call, not dropped;
 * - the age sweep deletes expired rows (a dead asker's) in bounded batches along an index;
 * - a fan-out refills the slots of hosts held elsewhere in batches, not one statement per
 *   freed slot;
 * - a routed call whose deadline passes while PostgreSQL is down times out at the asker.
 */
import { Client } from 'pg';
import t from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import type { CallLine, CallSummary } from '../../src/api/calls';
import { CallService } from '../../src/server/calls/call-service';
import { CallRouter, SWEEP_BATCH, type RoutedOutcome } from '../../src/server/calls/routed-calls';
import { ServerEvents } from '../../src/server/events';
import type { PgStore } from '../../src/store/pg/store';
import type { CallCarrier, CarriedCall, HostRecord } from '../../src/store/types';
import { openStore, sql } from '../helpers/pg-store-fixtures';

const STARTED = '2026-01-01T00:00:00.000Z';

/** The store as a carrier, with the host count of each `ask` statement and the line count of each `answer` statement recorded. */
function counted(store: PgStore, asks: number[], answered: number[] = []): CallCarrier {
  return {
    ask: (asker, hostIds, request) => (asks.push(hostIds.length), store.ask(asker, hostIds, request)),
    take: (holder) => store.take(holder),
    answer: (answers) => (answered.push(answers.length), store.answer(answers)),
    collect: (asker) => store.collect(asker),
    endLost: (ids) => store.endLost(ids),
    giveUp: (ids) => store.giveUp(ids),
    sweepExpired: (limit) => store.sweepExpired(limit),
    forgetAsked: (asker) => store.forgetAsked(asker),
    listen: (address, wake) => store.listen(address, wake),
    closeCalls: () => store.closeCalls(),
  };
}

function okLine(call: CarriedCall): CallLine {
  return { hostId: call.hostId, guid: '', server: 'B', status: 'ok', ok: true, value: call.method, ms: 0 };
}

/** Resolves with `value` after `ms`: only a hang guard, the outcome under test comes first when it works. */
function after<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(resolve, ms, value).unref());
}

t.test('calls carried through PostgreSQL between two routers', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const url = await pg.database();
  const { store: a } = await openStore(url, { serverDownAfterMs: 60_000 });
  const { store: b } = await openStore(url, { serverDownAfterMs: 60_000 });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.heartbeat({ address: 'A', startedAt: STARTED, agents: 0 });
  await b.heartbeat({ address: 'B', startedAt: STARTED, agents: 120 });
  const hosts: HostRecord[] = [];
  for (let i = 0; i < 120; i++) hosts.push(await b.registerHost(`h${i}`, 'default'));
  await b.recordConnections('B', hosts.map((host) => ({ hostId: host.id, held: true, remoteAddress: `10.0.0.${host.id}:5000` })));

  // B's agents: `hang` never answers; anything else answers at once.
  const taken: CarriedCall[] = [];
  let onTaken: ((call: CarriedCall) => void) | undefined;
  const answered: number[] = [];
  const holder = new CallRouter({
    carrier: counted(b, [], answered),
    address: 'B',
    runHere: (call) => {
      taken.push(call);
      onTaken?.(call);
      return call.method === 'hang' ? new Promise<CallLine>(() => undefined) : Promise.resolve(okLine(call));
    },
  });
  const asks: number[] = [];
  const asker = new CallRouter({ carrier: counted(a, asks), address: 'A', runHere: () => Promise.reject(new Error('nothing is held by A')), checkMs: 100, marginMs: 300 });
  await holder.start();
  await asker.start();
  t.teardown(async () => {
    await asker.close();
    await holder.close();
  });

  await t.test('the holder gets the asker\'s client as the caller and what is left of the timeout', async (t) => {
    const took = new Promise<CarriedCall>((resolve) => (onTaken = resolve));
    const [call] = await asker.route([hosts[0]!.id], { method: 'who', params: { n: 1 }, timeoutMs: 10_000 }, '192.0.2.7:41000');
    const carried = await took;
    t.match(carried, { hostId: hosts[0]!.id, asker: 'A', caller: '192.0.2.7:41000', method: 'who', params: { n: 1 } });
    t.ok(carried.timeoutMs > 0 && carried.timeoutMs <= 10_000, `what is left of 10 000 ms: ${carried.timeoutMs}`);
    t.match(await call!.outcome, { kind: 'line', line: { status: 'ok', value: 'who' } });
  });

  await t.test('a holder writes the lines of the calls it took together back in one statement', async (t) => {
    answered.length = 0;
    const ids = hosts.slice(0, 24).map((host) => host.id);
    const calls = await asker.route(ids, { method: 'many', params: undefined, timeoutMs: 10_000 }, 'client');
    const outcomes = await Promise.all(calls.map((call) => call.outcome));
    t.same(outcomes.map((outcome) => (outcome.kind === 'line' ? outcome.line.hostId : outcome.kind)).sort((x, y) => Number(x) - Number(y)), ids, 'a line for each host');
    t.same(answered, [24], 'one statement for the 24 lines (one per line before)');
  });

  await t.test('a line read before its ask resolved at the asker is kept for it, not dropped', async (t) => {
    // The holder answers before the asker has read its own ask's answer (the wake-up and the
    // line come on other connections): here the ask resolves only after a collect read the line.
    let lineRead!: () => void;
    const read = new Promise<void>((resolve) => (lineRead = resolve));
    const carrier: CallCarrier = {
      ...counted(a, []),
      ask: async (asker, hostIds, request) => {
        const asked = await a.ask(asker, hostIds, request);
        await read;
        return asked;
      },
      collect: async (asker) => {
        const lines = await a.collect(asker);
        if (lines.size > 0) lineRead();
        return lines;
      },
    };
    const early = new CallRouter({ carrier, address: 'A2', runHere: () => Promise.reject(new Error('nothing is held by A2')), checkMs: 100, marginMs: 300 });
    await early.start();
    t.teardown(() => early.close());
    // A hang guard, not a figure: the call crosses PostgreSQL twice; it answers in milliseconds when it works.
    const [call] = await early.route([hosts[2]!.id], { method: 'early', params: undefined, timeoutMs: 30_000 }, 'client');
    t.match(await call!.outcome, { kind: 'line', line: { status: 'ok', value: 'early' } });
  });

  await t.test('a call whose timeout passed before it was taken is never taken', async (t) => {
    // Asked of B's process with no wake-up (B's router does not take it): a row as an outage
    // leaves it, asked 2 s ago with a timeout of 1 s.
    const [{ instance }] = await sql<{ instance: string }>(url, "SELECT instance FROM servers WHERE address = 'B'") as [{ instance: string }];
    const [{ id }] = await sql<{ id: string }>(
      url,
      "INSERT INTO calls (host_id, holder, holder_instance, asker, method, timeout_ms, asked_at) VALUES ($1, 'B', $2, 'A', 'late', 1000, now() - interval '2 seconds') RETURNING id",
      [hosts[1]!.id, instance],
    ) as [{ id: string }];
    t.same(await b.take('B'), [], 'past its timeout: not taken');
    // 10 s from 0.4 s ago: the take sees 9.6 s left at most, a margin that holds on a loaded machine.
    await sql(url, "UPDATE calls SET asked_at = now() - interval '400 milliseconds', timeout_ms = 10000 WHERE id = $1", [id]);
    const [late] = await b.take('B');
    t.match(late, { id: Number(id), method: 'late' }, 'within it: taken');
    t.ok(late!.timeoutMs <= 9_600 && late!.timeoutMs > 0, `with what is left: ${late!.timeoutMs} ms`);
    await a.giveUp([Number(id)]);
  });

  await t.test('the age sweep deletes expired rows in bounded batches, along an index', async (t) => {
    // A dead asker's rows: 2 500 expired (done or not), and 3 still within their expiry.
    await sql(
      url,
      `INSERT INTO calls (host_id, holder, holder_instance, asker, method, timeout_ms, expires_at, done_at, line)
       SELECT 1, 'B', 'gone', 'dead', 'm', 1000, now() - interval '1 second', CASE WHEN g % 2 = 0 THEN now() END, CASE WHEN g % 2 = 0 THEN '{}'::jsonb END
       FROM generate_series(1, 2500) g`,
    );
    await sql(url, "INSERT INTO calls (host_id, holder, holder_instance, asker, method, timeout_ms, expires_at) SELECT 1, 'B', 'gone', 'dead', 'm', 1000, now() + interval '1 hour' FROM generate_series(1, 3)");
    const sizes: number[] = [];
    const sweeping = new CallRouter({
      carrier: { ...counted(a, []), sweepExpired: async (limit) => { const n = await a.sweepExpired(limit); sizes.push(n); return n; } },
      address: 'A2',
      runHere: () => Promise.reject(new Error('unused')),
    });
    t.equal(await sweeping.sweep(), 2_500);
    t.same(sizes, [SWEEP_BATCH, SWEEP_BATCH, 500], 'one bounded statement per batch, until a short one');
    t.same(await sql(url, "SELECT count(*)::int AS n FROM calls WHERE asker = 'dead'"), [{ n: 3 }], 'rows within their expiry kept');

    // The statement finds its rows through the expiry index, not by reading the table.
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const plan = await client.query<{ 'QUERY PLAN': string }>('EXPLAIN SELECT id FROM calls WHERE expires_at < now() ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED');
      t.match(plan.rows.map((row) => row['QUERY PLAN']).join('\n'), /Index Scan (using|on) calls_expiry/);
    } finally {
      await client.end();
    }
  });

  await t.test('a fan-out refills the slots of hosts held elsewhere in batches', async (t) => {
    const byId = new Map(hosts.map((host) => [host.id, host]));
    const service = new CallService({
      host: (id) => byId.get(id),
      hostIds: () => byId.keys(),
      connection: () => undefined,
      router: asker,
      events: new ServerEvents(),
      serverName: 'A',
      // Only the batch size decides: a loaded machine's slow turns must not make this pass or fail.
      refillDelayMs: 600_000,
    });
    asks.length = 0;
    const lines: CallLine[] = [];
    let summary: CallSummary | undefined;
    for await (const line of service.callMany(byId.keys(), { method: 'fan', params: undefined, timeoutMs: 30_000 }, { address: 'client' }, { concurrency: 24 })) {
      if ('done' in line) summary = line;
      else lines.push(line);
    }
    t.match(summary, { done: true, total: 120, ok: 120 });
    t.same(lines.map((line) => line.hostId).sort((x, y) => x - y), [...byId.keys()], 'each host once');
    t.equal(asks.reduce((sum, n) => sum + n, 0), 120, 'every host asked once');
    t.equal(asks[0], 24, 'the first fill is one batch');
    t.ok(asks.slice(0, -1).every((n) => n >= 6), `every refill but the last carries a quarter of the concurrency or more: ${asks.join(' ')}`);
    t.ok(asks.length <= 1 + Math.ceil(96 / 6) + 1, `${asks.length} statements for 120 hosts at concurrency 24 (one per freed slot would be 97)`);
  });

  await t.test('a routed call whose deadline passes while PostgreSQL is down times out at the asker', async (t) => {
    const took = new Promise<CarriedCall>((resolve) => (onTaken = resolve));
    const [call] = await asker.route([hosts[2]!.id], { method: 'hang', params: undefined, timeoutMs: 500 }, 'client');
    await took;
    let outcome: RoutedOutcome | 'still open' | undefined;
    await pg.restart(async () => {
      outcome = await Promise.race([call!.outcome, after(20_000, 'still open' as const)]);
    });
    t.match(outcome, { kind: 'timeout', holder: 'B' });
  });
});
