/**
 * `npm run bench -- storm --servers N` with a handful of agents, against real PostgreSQL and
 * server processes (the built dist/), so the cluster bench cannot rot: counts and spreads
 * from the result JSON, the BENCHMARKS.md section it writes, and its flags. Never a time.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BenchUsageError, CLUSTER_STORM_AGENTS, parseBenchArgs, type BenchOptions } from '../../native-bench/options';
import { CLUSTER_MARKERS } from '../../native-bench/report/cluster-markdown';
import type { BenchReport, ClusterStormResult } from '../../native-bench/results';
import { runBench } from '../../native-bench/run';

t.test('--servers N: a cluster for storm only, 40 000 agents unless --agents', async (t) => {
  const opts = parseBenchArgs(['storm', '--servers', '3']) as BenchOptions;
  t.equal(opts.cluster, 3);
  t.equal(opts.servers, undefined);
  t.equal(opts.agents.storm, CLUSTER_STORM_AGENTS);
  t.equal(CLUSTER_STORM_AGENTS, 40_000);
  t.equal((parseBenchArgs(['storm', '--servers', '2', '--agents', '50']) as BenchOptions).agents.storm, 50);
  const fails = (argv: string[], message: string): void => {
    t.throws(() => parseBenchArgs(argv), new BenchUsageError(message), argv.join(' '));
  };
  fails(['storm', '--servers', '1'], '--servers N needs a count from 2 to 9, got "1"');
  fails(['storm', '--servers', '10'], '--servers N needs a count from 2 to 9, got "10"');
  fails(['propagate', '--servers', '3'], '--servers N (a cluster) applies to storm only');
  fails(['--servers', '3'], '--servers N (a cluster) applies to storm only');
  fails(['storm', '--servers', '3', '--client', 'native'], 'storm --servers N needs the node client: its agents follow their lists across servers');
  t.equal((parseBenchArgs(['storm', '--servers', '3']) as BenchOptions).algorithm, 'roundrobin');
  t.equal((parseBenchArgs(['storm', '--servers', '3', '--algorithm', 'balanced']) as BenchOptions).algorithm, 'balanced');
  fails(['storm', '--servers', '3', '--algorithm', 'fastest'], '--algorithm must be one of static, roundrobin, shuffle, balanced, got "fastest"');
  fails(['storm', '--algorithm', 'balanced'], '--algorithm applies to storm --servers N and scale only');
});

t.test('storm --servers 3: first connect, restart of every server, loss of M1', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const json = path.join(dir, 'result.json');
  const markdown = path.join(dir, 'BENCHMARKS.md');
  await writeFile(markdown, '# Benchmarks\n\nAnalysis kept across runs.\n');
  // --timeout-ms 30 000: an agent whose handshake times out moves to its next entry, which
  // changes the spreads asserted below; at load 50 a 5 s handshake timeout did (8/12/10).
  const argv = ['storm', '--servers', '3', '--agents', '30', '--concurrency', '6', '--sources', '2', '--timeout-ms', '30000', '--json', json, '--markdown', markdown];
  const out: string[] = [];
  await runBench(parseBenchArgs(argv) as BenchOptions, `npm run bench -- ${argv.join(' ')}`, { out: (s) => out.push(s), log: () => undefined, color: false });
  t.match(out.join('\n'), /cluster storm: 30 agents over 3 servers sharing PostgreSQL, roundrobin/);

  const report = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
  const result = report.results[0] as ClusterStormResult;
  t.match(result, { scenario: 'cluster-storm', servers: 3, agents: 30, algorithm: 'roundrobin', notes: [] });
  t.same(
    result.phases.map((p) => [p.name, p.agents, p.back, p.lost]),
    [
      ['first connect (new hosts)', 30, 30, 0],
      ['restart of all 3 servers', 30, 30, 0],
      ['SIGKILL of M1', 10, 10, 0],
    ],
  );
  t.same(result.phases[0]!.spread.map((s) => s.agents), [10, 10, 10], 'one swarm worker bootstraps on each server');
  t.same(result.phases[1]!.spread.map((s) => s.agents), [10, 10, 10], 'after the restart each agent is on its roundrobin first entry');
  t.same(result.phases[2]!.spread.map((s) => s.agents), [0, 20, 10], "M1's agents all move to their second entry, M2");
  t.ok(result.phases[1]!.restartMs! > 0);
  t.ok(result.phases[0]!.hostsFrames >= 30, 'every new agent was sent its list');

  const written = await readFile(markdown, 'utf8');
  t.ok(written.startsWith('# Benchmarks\n\nAnalysis kept across runs.\n'), 'text outside the markers is kept');
  t.ok(written.includes(CLUSTER_MARKERS.begin) && written.includes(CLUSTER_MARKERS.end));
  t.match(written, /\| SIGKILL of M1 \| 10 \| 10 \| 0 \| - \| [^|]+ \| [0-9,]+ \| [0-9,]+ µs \| 0 \| 20 \| 10 \|/);
});
