/**
 * Tables for `storm --servers N`: each phase (first connect, restart of every server, loss of
 * one) with how long the fleet took to come back and how it spread over the servers.
 */
import type { ClusterStormResult } from '../results';
import type { TableModel } from './model';
import { fmtInt, fmtMs, latencyRow, LATENCY_HEAD } from './model';

const kinds = (failures: Record<string, number>): string =>
  Object.entries(failures)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

export function clusterStormTables(result: ClusterStormResult): TableModel[] {
  const names = result.phases[0]?.spread.map((_, i) => `M${i + 1}`) ?? [];
  const tables: TableModel[] = [
    {
      title: `cluster storm: ${fmtInt(result.agents)} agents over ${result.servers} servers sharing PostgreSQL, ${result.algorithm}, concurrency ${result.concurrency}`,
      head: ['Phase', 'Agents moving', 'Back', 'Lost', 'Servers ready', 'Ready -> all back', 'hosts frames', 'Server CPU / agent', ...names.map((n) => `on ${n}`)],
      rows: result.phases.map((p) => [
        p.name,
        fmtInt(p.agents),
        fmtInt(p.back),
        p.lost === 0 ? '0' : `${p.lost} (${kinds(p.failures)})`,
        p.restartMs === undefined ? '-' : fmtMs(p.restartMs),
        fmtMs(p.allBackMs),
        fmtInt(p.hostsFrames),
        `${fmtInt((p.serverCpuMs * 1000) / Math.max(1, p.agents))} µs`,
        ...p.spread.map((s) => fmtInt(s.agents)),
      ]),
    },
    { title: 'cluster storm latency (connect -> welcome; first connect: -> hosts)', head: LATENCY_HEAD, rows: result.phases.map((p) => latencyRow(p.name, p.latencyMs)) },
  ];
  if (result.notes.length > 0) tables.push({ title: 'cluster storm notes', head: ['Note'], rows: result.notes.map((n) => [n]) });
  return tables;
}
