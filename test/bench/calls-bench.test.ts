/**
 * `npm run bench -- calls` at a tiny size (50 agents), against real server processes and a
 * real PostgreSQL (the built dist/), so the harness cannot rot: every fan-out answers each
 * agent exactly once, the counts agree with each other and with what the agents saw, the
 * report has its rows and its calls section. Asserts counts and shape, never a time.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseBenchArgs, type BenchOptions } from '../../native-bench/options';
import type { BenchReport, CallsResult } from '../../native-bench/results';
import { runBench } from '../../native-bench/run';
import { CALLS_SECTION } from '../../native-bench/report/scenario-markdown';
import { checkOpenFiles, SINGLE_CALLS } from '../../native-bench/scenarios/calls';
import { openFilesLimit } from '../../native-bench/machine';

const AGENTS = 50;
/** The single-call rows at this size: as many calls as agents (scenarios/calls.ts). */
const SINGLE = Math.min(SINGLE_CALLS, AGENTS);

// Three configurations, each starting its servers (the cluster with PostgreSQL): a hang
// guard, not a bound; counts are what is asserted.
t.setTimeout(300_000);

t.test('calls at 50 agents: every fan-out answers each agent once; the report and its section', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-calls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const json = path.join(dir, 'result.json');
  const markdown = path.join(dir, 'BENCHMARKS.md');
  await writeFile(markdown, '# Benchmarks\n\nhand-written text stays\n');
  const argv = ['calls', '--agents', String(AGENTS), '--concurrency', '16', '--sources', '3', '--timeout-ms', '5000', '--json', json, '--markdown', markdown, '--no-progress'];
  const out: string[] = [];
  await runBench(parseBenchArgs(argv) as BenchOptions, `npm run bench -- ${argv.join(' ')}`, { out: (s) => out.push(s), log: () => undefined, color: false });
  const report = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
  const result = report.results[0] as CallsResult;
  t.equal(result.scenario, 'calls');
  t.same(
    result.fanouts.map((f) => [f.servers, f.agents]),
    [
      [1, AGENTS],
      [1, AGENTS],
      [3, AGENTS],
    ],
    'one server at its defaults, at warn, then three cluster servers',
  );
  for (const f of result.fanouts) {
    t.equal(f.lines, AGENTS, `${f.name}: one line per agent`);
    t.same(f.byStatus, { ok: AGENTS }, `${f.name}: all ok`);
    t.same(f.errorCodes, {}, `${f.name}: no error codes`);
    t.equal(f.duplicateLines, 0, `${f.name}: none doubled`);
    t.equal(f.missing, 0, `${f.name}: none missing`);
    t.same(f.agentSide, { calls: AGENTS, calledOnce: AGENTS, calledMore: 0, cancels: 0 }, `${f.name}: each agent called once, nothing cancelled`);
    t.ok(f.summaryMatches, `${f.name}: the summary line agrees`);
    t.equal(f.serverCpuMs.length, f.servers, `${f.name}: CPU of every server`);
    t.ok(f.rssPeakBytes >= f.rssBeforeBytes && f.rssBeforeBytes > 0, `${f.name}: RSS sampled`);
  }
  const cluster = result.fanouts[2]!;
  t.equal(Object.keys(cluster.byServer).length, 3, 'the cluster fan-out has lines from all three servers');
  t.same(Object.values(cluster.byServer).sort(), [16, 17, 17], 'a third of the agents on each');
  t.same(result.latency.map((l) => [l.callMs.count, l.baselineMs.count, l.errors]), [
    [SINGLE, SINGLE, 0],
    [SINGLE, SINGLE, 0],
    [SINGLE, SINGLE, 0],
  ], 'single calls and admin GETs: every one answered 200');
  t.ok(result.latency[2]!.name.includes('routed'), 'the cluster single call is routed');
  t.equal(result.verdicts.filter((v) => v.target.includes('no call lost or doubled')).filter((v) => v.met).length, 3, 'no call lost or doubled, three times');
  t.ok(out.join('\n').includes('calls: single call / admin GET'), 'tables were printed');
  const text = await readFile(markdown, 'utf8');
  t.ok(text.includes('hand-written text stays'), 'the rest of the file is kept');
  t.ok(text.includes(CALLS_SECTION.markers.begin) && text.includes(CALLS_SECTION.markers.end), 'the calls section between its markers');
  t.ok(text.includes('Targets (issue 14)'));
});

t.test('a size beyond one process\'s open files is refused, naming the numbers', async (t) => {
  t.throws(() => checkOpenFiles(19_001, 20_000), { message: /19001 agents on one server exceed what one process holds here \(19000/ });
  t.throws(() => checkOpenFiles(15_000, 10_000), { message: 'calls: 15000 agents in one process need about 15200 open files, but ulimit -n is 10000; raise it or use --agents 9800 or fewer' });
  t.doesNotThrow(() => checkOpenFiles(15_000, 20_000));
  t.doesNotThrow(() => checkOpenFiles(15_000, undefined), 'unknown limit: not refused');
  t.equal(openFilesLimit(() => 'Limit  Soft Limit  Hard Limit  Units\nMax open files            20000                20000                files\n'), 20_000);
  t.equal(openFilesLimit(() => 'Max open files            unlimited            unlimited            files\n'), undefined);
  t.equal(
    openFilesLimit(() => {
      throw new Error('no /proc');
    }),
    undefined,
  );
});
