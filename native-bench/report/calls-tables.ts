/** The tables of `calls` (issue 14): one row per fan-out, then the single-call latencies. */
import type { CallsResult } from '../results';
import { fmtBytes, fmtInt, fmtMs, LATENCY_HEAD, latencyRow, type TableModel } from './model';

const kinds = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([k, n]) => `${k} ${fmtInt(n)}`)
    .join(', ') || '0';

export function callsTables(result: CallsResult): TableModel[] {
  return [
    {
      title: `calls: agentlb.ping fanned out to ${fmtInt(result.agents)} agents (native hold client, protocol 2); ${result.notes.join('; ')}`,
      head: ['Fan-out', 'Load', 'Last result', 'First line', 'Summary', 'Loop p99', 'Loop max', 'Server CPU', 'CPU per call', 'RSS before', 'RSS peak', 'Lines by status', 'Doubled / missing', 'Agents called once / more', 'Lines by server'],
      rows: result.fanouts.map((f) => [
        f.name,
        String(f.load),
        fmtMs(f.lastResultMs),
        fmtMs(f.firstLineMs),
        fmtMs(f.summaryMs),
        fmtMs(f.loopP99Ms),
        `${fmtMs(f.loopMaxMs)}${f.othersLoopMaxMs === undefined ? '' : ` (others ${fmtMs(f.othersLoopMaxMs)})`}`,
        f.serverCpuMs.map((ms) => fmtMs(ms)).join(' + '),
        `${f.cpuPerCallUs} µs`,
        fmtBytes(f.rssBeforeBytes),
        fmtBytes(f.rssPeakBytes),
        `${kinds(f.byStatus)}${Object.keys(f.errorCodes).length === 0 ? '' : ` (codes: ${kinds(f.errorCodes)})`}`,
        `${f.duplicateLines} / ${f.missing}`,
        `${fmtInt(f.agentSide.calledOnce)} / ${f.agentSide.calledMore}`,
        kinds(f.byServer),
      ]),
    },
    {
      title: `calls: single-call latency, ${result.latency[0]?.callMs.count ?? 0} sequential calls to one idle agent (POST /api/hosts/ID/call agentlb.ping), next to as many GET /api/settings on the same keep-alive connection`,
      head: LATENCY_HEAD,
      rows: result.latency.flatMap((l) => [latencyRow(`${l.name} (load ${l.load})`, l.callMs), latencyRow('  baseline: GET /api/settings', l.baselineMs)]),
    },
    {
      title: 'calls: single call / admin GET, same run',
      head: ['Single call', 'p50 ratio', 'p99 ratio', 'Unexpected answers'],
      rows: result.latency.map((l) => [l.name, `${l.ratioP50} ×`, `${l.ratioP99} ×`, String(l.errors)]),
    },
  ];
}
