/**
 * Rendering: every scenario's tables, the Markdown form, and the BENCHMARKS.md update that
 * replaces only the generated part.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BEGIN_MARKER, END_MARKER, markdownTable, renderMarkdown, updateMarkdownFile } from '../../native-bench/report/markdown';
import { fmtBytes, fmtMs, tablesFor } from '../../native-bench/report/model';
import { renderTerminal } from '../../native-bench/report/terminal';
import type { BenchReport, ScenarioResult } from '../../native-bench/results';

const lat = { count: 10, p50: 1, p90: 2, p99: 3, max: 4, mean: 1.5 };
const results: ScenarioResult[] = [
  {
    scenario: 'handshake',
    agents: 10,
    concurrency: 2,
    runs: [
      { server: 'raw', client: 'native', agents: 'known', count: 10, rounds: 1, ok: 10, errors: 0, errorKinds: {}, rate: 1000, rates: [1000], latencyMs: lat, serverCpuUs: 90 },
      { server: 'agentlb', client: 'native', agents: 'known', count: 10, rounds: 1, ok: 9, errors: 1, errorKinds: { timeout: 1 }, rate: 800, rates: [800], latencyMs: lat, serverCpuUs: 120 },
    ],
    ratios: { native: 0.8 },
    versus: { agentlb: { raw: 0.8, floor: 0.5 } },
    versusCpu: { agentlb: { raw: 0.75, floor: 0.25 } },
    notes: ['nats-server is not installed'],
    logBytesPerHandshake: 420,
    verdicts: [{ target: 'handshake ≥ 0.85 × raw', measured: '0.8 ×', met: false }],
  },
  {
    scenario: 'storm',
    agents: 10,
    concurrency: 2,
    rawHandshakeRate: 1000,
    budgetMs: 13,
    runs: [{ server: 'agentlb', client: 'native', pool: 'on', agents: 10, reconnected: 10, lost: 0, failures: {}, shutdownMs: 5, restartMs: 300, readyToAllMs: 12, killToAllMs: 400, latencyMs: lat, loopDelayP99Ms: 11 }],
    verdicts: [{ target: 'storm', measured: '12 ms', met: true }],
  },
  {
    scenario: 'propagate',
    agents: 10,
    runs: [{ client: 'node', pool: 'off', agents: 10, hostsReceived: 10, acked: 10, errors: 0, putMs: 3, allAckedMs: 20, latencyMs: lat }],
    handoff: { batch: 512, rows: [{ work: 'fan-out', inlineUs: 0.5, pooledMainThreadUs: 0.6, pooledWallUs: 1.5 }] },
    verdicts: [],
  },
  {
    scenario: 'idle',
    agents: 10,
    runs: [{ server: 'raw', client: 'native', agents: 10, connected: 10, rssBeforeBytes: 40 << 20, rssAfterBytes: (40 << 20) + 38_000, rssPerAgentBytes: 3_800 }],
    ratio: 1.2,
    verdicts: [],
  },
  { scenario: 'admin-http', runs: [{ path: '/api/settings', connections: 10, durationS: 1, requestsPerSec: 9000, latencyMs: { p50: 1, p90: 1, p99: 2, max: 9, mean: 1 }, errors: 0, non2xx: 0 }] },
];

t.test('formatting', async (t) => {
  t.equal(fmtMs(undefined), 'n/a');
  t.equal(fmtMs(12.345), '12.35 ms');
  t.equal(fmtMs(12_345), '12.35 s');
  t.equal(fmtBytes(3_800), '3.71 KB');
  t.equal(fmtBytes(500), '500 B');
  t.equal(fmtBytes(3 << 20), '3.0 MB');
});

t.test('every scenario renders its figures', async (t) => {
  const hs = tablesFor(results[0]!);
  t.same(hs[0]!.rows[1], ['agentlb', 'native', 'known', '800 /s', '800', '1 (timeout 1)', '120 µs', '0.8 ×']);
  t.same(tablesFor(results[1]!)[0]!.rows[0], ['agentlb', 'native', 'on', '10/10', '0', '5 ms', '300 ms', '12 ms', '400 ms', '11 ms']);
  t.same(tablesFor(results[2]!)[0]!.rows[0], ['node', 'off', '10', '10', '0', '3 ms', '20 ms', 'n/a']);
  t.same(tablesFor(results[2]!)[2]!.rows[0], ['fan-out', '0.5 µs', '0.6 µs', '1.5 µs']);
  t.same(tablesFor(results[3]!)[0]!.rows[0], ['raw', 'native', '10', '40.0 MB', '40.0 MB', '3.71 KB', 'n/a']);
  t.same(tablesFor(results[4]!)[0]!.rows[0], ['/api/settings', '9,000', '1 ms', '1 ms', '2 ms', '9 ms', '0', '0']);
  const text = renderTerminal(tablesFor(results[0]!), false);
  t.match(text, /Server CPU \/ handshake/);
  t.match(text, /agentlb as a ratio of each peer .*nats-server is not installed; at info agentlb logged 420 bytes per handshake/);
  t.match(text, /agentlb \(default: info, log to a file\)/);
  t.match(text, /CPU per handshake \(peer's \/ agentlb's\).*0\.75 ×/);
  t.notMatch(text, /\u001b\[/, 'no colour codes when colour is off');
});

t.test('markdown tables escape pipes', async (t) => {
  t.equal(markdownTable({ title: 'T', head: ['a|b'], rows: [['1|2']] }), '**T**\n\n| a\\|b |\n| --- |\n| 1\\|2 |');
});

t.test('BENCHMARKS.md: created, then only the generated part is replaced', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-md-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'BENCHMARKS.md');
  const report: BenchReport = {
    command: 'npm run bench',
    machine: { nproc: 2, memoryBytes: 1 << 30, node: 'v20', cpuModel: 'cpu', kernel: 'Linux', date: '2025-01-01T00:00:00.000Z', loadAverage: { atStart: 0.5, atEnd: 3 } },
    durationS: 12,
    results,
  };
  const generated = renderMarkdown(report);
  t.match(generated, /- Command: `npm run bench`/);
  t.match(generated, /2 CPUs \(cpu\), 1024\.0 MB memory, Linux, Node v20/);
  t.match(generated, /load average 0\.5 at the start, 3 at the end/);
  t.match(generated, /\| handshake ≥ 0\.85 × raw \| 0\.8 × \| MISSED \|/);
  await updateMarkdownFile(file, generated);
  const created = await readFile(file, 'utf8');
  t.match(created, /^# Benchmarks/);
  await writeFile(file, created.replace(END_MARKER, `${END_MARKER}\n\n## Analysis\nkept by hand\n`));
  await updateMarkdownFile(file, `${BEGIN_MARKER}\nNEW\n${END_MARKER}`);
  const updated = await readFile(file, 'utf8');
  t.match(updated, /NEW/);
  t.notMatch(updated, /Latest run/, 'the old generated part is gone');
  t.match(updated, /## Analysis\nkept by hand/);
  t.match(updated, /^# Benchmarks/);
});
