/**
 * Every bench scenario with a handful of agents, against real server processes (the built
 * dist/), so the harness cannot rot. Asserts counts and zero errors from the result JSON;
 * never a time.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { parseBenchArgs, type BenchOptions } from '../../native-bench/options';
import type { BenchReport, HandshakeResult, IdleResult, PropagateResult, StormResult, AdminHttpResult } from '../../native-bench/results';
import { natsServerBinary } from '../../native-bench/peers';
import { runBench } from '../../native-bench/run';

const AGENTS = 10;

/**
 * The file's budget: five scenarios start about thirty server processes between them, 17 s on a
 * quiet machine and 115 to 145 s at load 50 on 2 cores, past tap's 120 s per file. Counts are
 * what is asserted, never a time, so a slow machine only needs the time.
 */
t.setTimeout(360_000);

async function bench(t: Test, scenario: string, extra: string[] = []): Promise<BenchReport> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-smoke-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const json = path.join(dir, 'result.json');
  const argv = [scenario, '--agents', String(AGENTS), '--concurrency', '8', '--rounds', '1', '--sources', '3', '--duration', '1', '--timeout-ms', '5000', '--json', json, ...extra];
  const opts = parseBenchArgs(argv) as BenchOptions;
  const out: string[] = [];
  await runBench(opts, `npm run bench -- ${argv.join(' ')}`, { out: (s) => out.push(s), log: () => undefined, color: false });
  t.ok(out.join('\n').length > 0, 'tables were printed');
  return JSON.parse(await readFile(json, 'utf8')) as BenchReport;
}

t.test('handshake: native and node clients, agentlb (info to a file, and warn) and its peers, every handshake completes', async (t) => {
  const report = await bench(t, 'handshake');
  const result = report.results[0] as HandshakeResult;
  t.equal(result.scenario, 'handshake');
  const nats = natsServerBinary() !== undefined;
  const peers = nats ? ['floor', 'nats'] : ['floor'];
  t.same(
    result.runs.map((r) => [r.server, r.client, r.agents]),
    [
      ['raw', 'native', 'known'],
      ['agentlb', 'native', 'known'],
      ['agentlb-warn', 'native', 'known'],
      ...peers.map((peer) => [peer, 'native', 'known']),
      ['agentlb', 'native', 'new'],
      ['agentlb-warn', 'native', 'new'],
      ['raw', 'node', 'known'],
      ['agentlb', 'node', 'known'],
      ['agentlb-warn', 'node', 'known'],
      ['agentlb', 'node', 'new'],
      ['agentlb-warn', 'node', 'new'],
    ],
  );
  for (const run of result.runs) {
    t.equal(run.ok, AGENTS * run.rounds, `${run.server}/${run.client}/${run.agents}: all handshakes completed`);
    t.equal(run.errors, 0, `${run.server}/${run.client}: no errors`);
    t.ok(run.rate > 0, 'a rate was computed');
  }
  t.same(Object.keys(result.versus.agentlb ?? {}).sort(), nats ? ['floor', 'nats', 'raw'] : ['floor', 'raw'], 'agentlb as a ratio of each peer');
  t.same(result.notes, nats ? [] : ['nats-server is not installed (apt-get install nats-server): its row and ratio are skipped']);
  t.ok((result.logBytesPerHandshake ?? 0) > 0, 'at its default level agentlb logged to its file');
  t.ok(report.machine.nproc >= 1);
});

t.test('storm: every agent comes back after the restart, for raw and agentlb, with both clients', async (t) => {
  const result = (await bench(t, 'storm')).results[0] as StormResult;
  t.same(
    result.runs.map((r) => [r.server, r.client]),
    [['raw', 'native'], ['agentlb', 'native'], ['raw', 'node'], ['agentlb', 'node']],
  );
  for (const run of result.runs) {
    t.equal(run.reconnected, AGENTS, `${run.server}/${run.client}: all back`);
    t.equal(run.lost, 0, `${run.server}/${run.client}: none lost`);
  }
  t.ok(result.rawHandshakeRate > 0);
});

t.test('propagate: one PUT reaches every agent once, and every agent acks, with both clients', async (t) => {
  const result = (await bench(t, 'propagate')).results[0] as PropagateResult;
  t.same(result.runs.map((r) => r.client), ['native', 'node']);
  for (const run of result.runs) {
    t.equal(run.hostsReceived, AGENTS, `${run.client}: one hosts frame per agent`);
    t.equal(run.acked, AGENTS, `${run.client}: every agent acked`);
    t.equal(run.errors, 0, `${run.client}: no errors`);
  }
  t.same(result.handoff.rows.map((r) => r.work), ['fan-out'], 'the pool hand-off was measured');
});

t.test('idle: both servers hold every agent, with either client', async (t) => {
  for (const client of ['native', 'node']) {
    const result = (await bench(t, 'idle', ['--client', client])).results[0] as IdleResult;
    t.same(result.runs.map((r) => [r.server, r.client, r.connected]), [['raw', client, AGENTS], ['agentlb', client, AGENTS]]);
  }
});

t.test('admin-http: autocannon gets answers from the admin API', async (t) => {
  const result = (await bench(t, 'admin-http')).results[0] as AdminHttpResult;
  const settings = result.runs.find((r) => r.path === '/api/settings')!;
  t.equal(settings.errors, 0);
  t.equal(settings.non2xx, 0);
  t.ok(settings.requestsPerSec > 0);
});
