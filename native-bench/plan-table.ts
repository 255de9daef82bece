/**
 * The plan-quality table of BENCHMARKS.md: roundrobin, shuffle and balanced over one zone of
 * 1 000 hosts and 5 servers — max first-choice load, the worst single failure, hosts whose
 * first two entries change when one host is removed, primaries moved when a server is added —
 * and the time to plan 100 000 hosts (plan() plus every host's list, so roundrobin and shuffle,
 * which compute lists on demand, are timed for the same result).
 *
 * `node dist/native-bench/plan-table.js [--json FILE]` prints a markdown table. Nothing here
 * asserts on time; test/lb/plan-stats-table.test.ts checks the figures on a small fleet.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { balanced } from '../src/lb/balanced';
import { churn, firstChoiceLoads, planLists, worstSingleFailure, type WorstFailure } from '../src/lb/plan-stats';
import { roundRobin } from '../src/lb/roundrobin';
import { shuffle } from '../src/lb/shuffle';
import type { Algorithm } from '../src/lb/types';
import { ZoneIndex } from '../src/lb/zone-index';
import { parseArguments } from './micro';

export interface PlanTableOptions {
  hosts: number;
  servers: readonly string[];
  /** The server added for the "primaries moved" column. */
  addedServer: string;
  /** How many hosts are removed (one at a time, spread over the ids, the lowest id first). */
  removals: number;
  planningHosts: number;
  /** Planning time is the median of this many runs (the first warms the JIT up). */
  planningRuns: number;
}

export const DEFAULT_PLAN_TABLE: PlanTableOptions = {
  hosts: 1_000,
  servers: ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250', '10.0.0.4:8250', '10.0.0.5:8250'],
  addedServer: '10.0.0.6:8250',
  removals: 10,
  planningHosts: 100_000,
  planningRuns: 5,
};

export const PLAN_TABLE_ALGORITHMS: readonly Algorithm[] = [roundRobin, shuffle, balanced];

export interface PlanTableRow {
  algorithm: string;
  maxFirstLoad: number;
  /** n/m: what a perfectly balanced first choice gives. */
  fairFirstLoad: number;
  worstFailure: WorstFailure;
  removedFirstTwoMean: number;
  removedFirstTwoMax: number;
  /** Hosts whose first entry changes when `addedServer` joins. */
  addedServerMoved: number;
  /** ⌈n/(m+1)⌉: the least any algorithm must move to give the new server its share. */
  addedServerShare: number;
  planMs: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Median wall time of plan() plus one listFor per host, over a zone built once. */
export function planningMs(algorithm: Algorithm, servers: readonly string[], hosts: number, runs: number): number {
  const zone = new ZoneIndex('bench');
  for (let id = 1; id <= hosts; id++) zone.add(id);
  const ids = zone.ids();
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const planner = algorithm.plan(servers, zone);
    for (const id of ids) planner.listFor(id);
    times.push(performance.now() - started);
  }
  return median(times);
}

/** The hosts removed for the churn column: `count` ids spread evenly, starting at the lowest. */
export function removalIds(ids: readonly number[], count: number): number[] {
  const taken = Math.min(count, ids.length);
  return Array.from({ length: taken }, (_, i) => ids[Math.floor((i * ids.length) / taken)]!);
}

export function planTableRow(algorithm: Algorithm, options: PlanTableOptions): PlanTableRow {
  const { servers, hosts } = options;
  const ids = Array.from({ length: hosts }, (_, i) => i + 1);
  const lists = planLists(algorithm, servers, ids);
  const removed = removalIds(ids, options.removals).map(
    (gone) => churn(lists, planLists(algorithm, servers, ids.filter((id) => id !== gone))).firstTwoChanged,
  );
  const grown = planLists(algorithm, [...servers, options.addedServer], ids);
  return {
    algorithm: algorithm.name,
    maxFirstLoad: Math.max(...firstChoiceLoads(lists).values()),
    fairFirstLoad: hosts / servers.length,
    worstFailure: worstSingleFailure(lists, servers)!,
    removedFirstTwoMean: removed.reduce((a, b) => a + b, 0) / removed.length,
    removedFirstTwoMax: Math.max(...removed),
    addedServerMoved: churn(lists, grown).firstChanged,
    addedServerShare: Math.ceil(hosts / (servers.length + 1)),
    planMs: planningMs(algorithm, servers, options.planningHosts, options.planningRuns),
  };
}

export function planTable(options: PlanTableOptions = DEFAULT_PLAN_TABLE): PlanTableRow[] {
  return PLAN_TABLE_ALGORITHMS.map((algorithm) => planTableRow(algorithm, options));
}

function thousands(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function formatPlanTable(rows: readonly PlanTableRow[], options: PlanTableOptions = DEFAULT_PLAN_TABLE): string {
  const m = options.servers.length;
  const header = [
    'algorithm',
    `max first-choice load (fair ${thousands(options.hosts / m)})`,
    `worst single failure: max load (× fair ${thousands(options.hosts / (m - 1))})`,
    `first two entries changed by removing one host (mean / max of ${options.removals})`,
    `primaries moved by adding a server (share ${thousands(Math.ceil(options.hosts / (m + 1)))})`,
    `plan ${thousands(options.planningHosts)} hosts (ms)`,
  ];
  const lines = rows.map((row) => [
    `\`${row.algorithm}\``,
    thousands(row.maxFirstLoad),
    `${thousands(row.worstFailure.maxLoad)} (${row.worstFailure.ratioToFair.toFixed(2)}×)`,
    `${thousands(row.removedFirstTwoMean)} / ${thousands(row.removedFirstTwoMax)}`,
    thousands(row.addedServerMoved),
    thousands(row.planMs),
  ]);
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function main(): void {
  const parsed = parseArguments(process.argv.slice(2));
  if (typeof parsed === 'string') {
    process.stderr.write(`${parsed}\nusage: plan-table [--json FILE]\n`);
    process.exitCode = 2;
    return;
  }
  const options = DEFAULT_PLAN_TABLE;
  const rows = planTable(options);
  process.stdout.write(`${options.hosts} hosts ids 1..${options.hosts} in one zone, servers ${options.servers.join(', ')}\n\n`);
  process.stdout.write(formatPlanTable(rows, options) + '\n');
  if (parsed.jsonFile !== undefined) {
    writeFileSync(parsed.jsonFile, JSON.stringify({ node: process.version, options, rows }, null, 2) + '\n');
    process.stdout.write(`\nwrote ${parsed.jsonFile}\n`);
  }
}

if (require.main === module) main();
