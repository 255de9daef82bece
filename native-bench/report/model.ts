/**
 * Every result as plain tables (a title, a header, rows of text): one model, rendered twice —
 * in autocannon's terminal style (terminal.ts) and as Markdown for BENCHMARKS.md (markdown.ts).
 */
import type { ScenarioResult, Verdict } from '../results';
import type { LatencySummary } from '../swarm/latency';
import { clusterStormTables } from './cluster-tables';
import { scaleTables } from './scale-tables';
import { callsTables } from './calls-tables';

export interface TableModel {
  title: string;
  head: string[];
  rows: string[][];
}

export const fmtMs = (ms: number | undefined): string => (ms === undefined ? 'n/a' : ms >= 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms * 100) / 100} ms`);
export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtBytes = (b: number | undefined): string =>
  b === undefined ? 'n/a' : Math.abs(b) >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MB` : Math.abs(b) >= 1024 ? `${(b / 1024).toFixed(2)} KB` : `${b} B`;
const fmtKinds = (kinds: Record<string, number>): string =>
  Object.entries(kinds)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || '0';

export const LATENCY_HEAD = ['Latency', '50%', '90%', '99%', 'Max', 'Avg', 'Count'];
export const latencyRow = (label: string, l: LatencySummary): string[] => [label, fmtMs(l.p50), fmtMs(l.p90), fmtMs(l.p99), fmtMs(l.max), fmtMs(l.mean), fmtInt(l.count)];

export function verdictTable(verdicts: readonly Verdict[]): TableModel {
  return { title: 'Targets (issue 5)', head: ['Target', 'Measured', 'Met'], rows: verdicts.map((v) => [v.target, v.measured, v.met ? 'yes' : 'MISSED']) };
}

export function tablesFor(result: ScenarioResult): TableModel[] {
  switch (result.scenario) {
    case 'handshake': {
      const raw = (client: string) => result.runs.find((r) => r.server === 'raw' && r.client === client);
      const peerNames: Record<string, string> = { raw: 'raw Node', nats: 'nats-server', floor: 'C floor' };
      const kindName = (kind: string): string => (kind === 'agentlb' ? 'agentlb (default: info, log to a file)' : 'agentlb (--log-level warn)');
      const cells = (row: Partial<Record<'raw' | 'nats' | 'floor', number>>): string[] =>
        (['raw', 'nats', 'floor'] as const).map((peer) => (row[peer] === undefined ? 'not measured' : `${row[peer]} ×`));
      const versusRows = [
        ...Object.entries(result.versus ?? {}).map(([kind, row]) => [kindName(kind), 'rate', ...cells(row)]),
        ...Object.entries(result.versusCpu ?? {}).map(([kind, row]) => [kindName(kind), "CPU per handshake (peer's / agentlb's)", ...cells(row)]),
      ];
      const peersTable: TableModel[] =
        versusRows.length === 0
          ? []
          : [
              {
                title: `agentlb as a ratio of each peer (native client, known agents, medians of the same run)${result.notes?.length ? `; ${result.notes.join('; ')}` : ''}${
                  result.logBytesPerHandshake === undefined ? '' : `; at info agentlb logged ${result.logBytesPerHandshake} bytes per handshake`
                }`,
                head: ['agentlb', 'by', ...['raw', 'nats', 'floor'].map((p) => `vs ${peerNames[p]}`)],
                rows: versusRows,
              },
            ];
      return [
        {
          title: `handshake: ${fmtInt(result.agents)} fresh connections per round, concurrency ${result.concurrency}`,
          head: ['Server', 'Client', 'Agents', 'Rate (median)', 'Rounds', 'Errors', 'Server CPU / handshake', 'vs raw'],
          rows: result.runs.map((r) => [
            r.server,
            r.client,
            r.server.startsWith('agentlb') ? r.agents : '-',
            `${fmtInt(r.rate)} /s`,
            r.rates.map(fmtInt).join(', '),
            r.errors === 0 ? '0' : `${r.errors} (${fmtKinds(r.errorKinds)})`,
            `${r.serverCpuUs} µs`,
            `${r.server === 'raw' ? 1 : Math.round((r.rate / (raw(r.client)?.rate ?? r.rate)) * 1000) / 1000} ×`,
          ]),
        },
        {
          title: 'handshake latency (connect -> hosts), median round',
          head: LATENCY_HEAD,
          rows: result.runs.map((r) => latencyRow(`${r.server} (${r.client}${r.server.startsWith('agentlb') ? `, ${r.agents} agents` : ''})`, r.latencyMs)),
        },
        ...peersTable,
      ];
    }
    case 'storm':
      return [
        {
          title: `storm: ${fmtInt(result.agents)} agents, server restart, reconnect at concurrency ${result.concurrency}; budget 1.3 × N / ${fmtInt(result.rawHandshakeRate)}/s = ${fmtMs(result.budgetMs)}`,
          head: ['Server', 'Client', 'Pool', 'Back', 'Lost', 'Shutdown', 'Restart', 'Ready -> all', 'SIGTERM -> all', 'Loop delay p99'],
          rows: result.runs.map((r) => [
            r.server,
            r.client,
            r.server === 'raw' ? '-' : r.pool,
            `${fmtInt(r.reconnected)}/${fmtInt(r.agents)}`,
            r.lost === 0 ? '0' : `${r.lost} (${fmtKinds(r.failures)})`,
            fmtMs(r.shutdownMs),
            fmtMs(r.restartMs),
            fmtMs(r.readyToAllMs),
            fmtMs(r.killToAllMs),
            fmtMs(r.loopDelayP99Ms),
          ]),
        },
        {
          title: 'storm reconnect latency (connect -> welcome)',
          head: LATENCY_HEAD,
          rows: result.runs.map((r) => latencyRow(`${r.server} (${r.client}${r.server === 'raw' ? '' : `, pool ${r.pool}`})`, r.latencyMs)),
        },
      ];
    case 'propagate':
      return [
        {
          title: `propagate: ${fmtInt(result.agents)} agents, one PUT /api/settings that changes every list`,
          head: ['Client', 'Pool', 'Hosts received', 'Acked', 'Errors', 'PUT answered', 'PUT -> all acked', 'Loop delay p99'],
          rows: result.runs.map((r) => [r.client, r.pool, fmtInt(r.hostsReceived), fmtInt(r.acked), String(r.errors), fmtMs(r.putMs), fmtMs(r.allAckedMs), fmtMs(r.loopDelayP99Ms)]),
        },
        { title: 'propagate latency (PUT -> hosts frame at the agent)', head: LATENCY_HEAD, rows: result.runs.map((r) => latencyRow(`${r.client}, pool ${r.pool}`, r.latencyMs)) },
        {
          title: `burst pool hand-off, batches of ${result.handoff.batch} agents (event-loop time per agent)`,
          head: ['Batch', 'Planned in place', 'Handed to the pool (event loop)', 'Handed to the pool (wall)'],
          rows: result.handoff.rows.map((r) => [r.work, `${r.inlineUs} µs`, `${r.pooledMainThreadUs} µs`, `${r.pooledWallUs} µs`]),
        },
      ];
    case 'idle':
      return [
        {
          title: `idle: ${fmtInt(result.agents)} idle agents; agentlb / raw RSS per agent = ${result.ratio} ×`,
          head: ['Server', 'Client', 'Connected', 'RSS before', 'RSS after', 'RSS / agent', 'Heap / agent'],
          rows: result.runs.map((r) => [r.server, r.client, fmtInt(r.connected), fmtBytes(r.rssBeforeBytes), fmtBytes(r.rssAfterBytes), fmtBytes(r.rssPerAgentBytes), fmtBytes(r.heapPerAgentBytes)]),
        },
      ];
    case 'cluster-storm':
      return clusterStormTables(result);
    case 'scale':
      return scaleTables(result);
    case 'calls':
      return callsTables(result);
    case 'rebalance':
      return [
        {
          title: `rebalance: ${result.servers} cluster servers, ${fmtInt(result.agents)} agents (balanced, check interval 0), K = ${result.rate} moves/s across the fleet`,
          head: ['Phase', 'Until within 5 % of plan', 'Moves', 'Peak moves/s told (budget)', 'Peak moves/s done (agents)', 'Agents without a server', 'Live (M1, M2, M3)', 'Planned'],
          rows: result.phases.map((p) => [
            p.name,
            fmtMs(p.withinPlanMs),
            fmtInt(p.moves),
            fmtInt(p.peakGrantedPerSecond),
            fmtInt(p.peakMovesPerSecond),
            String(p.withoutServer),
            p.live.map(fmtInt).join(', '),
            p.planned.map(fmtInt).join(', '),
          ]),
        },
      ];
    case 'admin-http':
      return [
        {
          title: 'admin API under autocannon (10 connections)',
          head: ['GET', 'Req/s', '50%', '90%', '99%', 'Max', 'Errors', 'non-2xx'],
          rows: result.runs.map((r) => [
            r.path,
            fmtInt(r.requestsPerSec),
            fmtMs(r.latencyMs.p50),
            fmtMs(r.latencyMs.p90),
            fmtMs(r.latencyMs.p99),
            fmtMs(r.latencyMs.max),
            String(r.errors),
            String(r.non2xx),
          ]),
        },
      ];
  }
}
