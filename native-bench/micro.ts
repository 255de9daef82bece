/**
 * `npm run bench:micro`: the cost of one roundrobin list lookup at 1 000, 100 000 and
 * 1 000 000 hosts (flat, since it is O(1)) next to CloudStack's per-call O(n) search, the time
 * to build the per-zone index, a resync and a removal at 100 000 and 1 000 000 hosts
 * (micro-registry.ts), and the codec's encode/decode rates. Prints a plain-text table;
 * `--json FILE` also writes the figures as JSON. Nothing here asserts on time.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { roundRobin } from '../src/lb/roundrobin';
import { ZoneIndex } from '../src/lb/zone-index';
import { cloudStackRoundRobin } from './reference-cloudstack';

export interface RoundRobinRow {
  hosts: number;
  /** Milliseconds to add every host to an empty ZoneIndex, ids ascending. */
  buildMs: number;
  lookups: number;
  nsPerLookup: number;
  /** The CloudStack reference is O(n) per call, so it is sampled: see REFERENCE_BUDGET. */
  referenceLookups: number;
  referenceNsPerLookup: number;
  /** How many times slower the reference is than our lookup, measured in the same run. */
  ratio: number;
}

export interface RoundRobinOptions {
  sizes: readonly number[];
  /** Our lookups per size: enough to dwarf timer resolution. */
  lookups: number;
  /**
   * Ids the reference may copy and scan per size; its sample count is budget / hosts, so each
   * size costs the reference about the same time and 1 000 000 hosts stays well under a second.
   */
  referenceBudget: number;
}

export const DEFAULT_OPTIONS: RoundRobinOptions = {
  sizes: [1_000, 100_000, 1_000_000],
  lookups: 2_000_000,
  referenceBudget: 50_000_000,
};

const MIN_REFERENCE_LOOKUPS = 20;
const SERVERS = ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250'];

/** Deterministic probes (xorshift32), so runs are comparable and no Math.random in the loop. */
function probeIds(ids: readonly number[], count: number): Int32Array {
  const probes = new Int32Array(count);
  let state = 0x9e3779b9 | 0;
  for (let index = 0; index < count; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    probes[index] = ids[(state >>> 0) % ids.length]!;
  }
  return probes;
}

function benchOneSize(hosts: number, options: RoundRobinOptions): RoundRobinRow {
  // Ids with gaps (odd numbers), as real ids are once hosts have been removed.
  const buildStart = performance.now();
  const zone = new ZoneIndex('bench');
  for (let host = 0; host < hosts; host++) zone.add(2 * host + 1);
  const buildMs = performance.now() - buildStart;

  const ids = zone.ids();
  // CloudStack holds its ids in a plain ArrayList; a frozen array would make the reference's
  // copy several times slower than it should be and flatter our side of the ratio.
  const plainIds = [...ids];
  const planner = roundRobin.plan(SERVERS, zone);
  const referenceLookups = Math.max(
    MIN_REFERENCE_LOOKUPS,
    Math.min(options.lookups, Math.floor(options.referenceBudget / hosts)),
  );
  const probes = probeIds(ids, options.lookups);

  // Both sides must do the same job, or the ratio means nothing.
  for (let index = 0; index < Math.min(10, referenceLookups); index++) {
    const ours = planner.listFor(probes[index]).join();
    if (ours !== cloudStackRoundRobin(SERVERS, plainIds, probes[index]).join()) {
      throw new Error(`roundrobin and the reference disagree for host ${probes[index]}`);
    }
  }

  let sink = 0; // consumed below, so the JIT cannot drop the lookups
  for (let index = 0; index < Math.min(probes.length, 10_000); index++) sink += planner.listFor(probes[index]).length;
  const lookupStart = performance.now();
  for (let index = 0; index < probes.length; index++) sink += planner.listFor(probes[index]).length;
  const nsPerLookup = ((performance.now() - lookupStart) * 1e6) / probes.length;

  const referenceStart = performance.now();
  for (let index = 0; index < referenceLookups; index++) {
    sink += cloudStackRoundRobin(SERVERS, plainIds, probes[index]).length;
  }
  const referenceNsPerLookup = ((performance.now() - referenceStart) * 1e6) / referenceLookups;

  if (sink === 0) throw new Error('benchmark produced no lists');
  return {
    hosts,
    buildMs,
    lookups: probes.length,
    nsPerLookup,
    referenceLookups,
    referenceNsPerLookup,
    ratio: referenceNsPerLookup / nsPerLookup,
  };
}

export function benchRoundRobin(options: RoundRobinOptions = DEFAULT_OPTIONS): RoundRobinRow[] {
  return options.sizes.map((hosts) => benchOneSize(hosts, options));
}

type Cell = string | number;

function formatCell(cell: Cell): string {
  if (typeof cell === 'string') return cell;
  return cell.toLocaleString('en-US', { maximumFractionDigits: cell < 10 ? 2 : cell < 1000 ? 1 : 0 });
}

/** A plain-text table: a header, a rule, one line per row, numbers right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => row.map(formatCell));
  const widths = header.map((title, column) => Math.max(title.length, ...text.map((row) => row[column]!.length)));
  const line = (cells: readonly string[], alignRight: (column: number) => boolean) =>
    cells
      .map((cell, column) => (alignRight(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [
    line(header, (column) => typeof rows[0]?.[column] === 'number'),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...text.map((row, index) => line(row, (column) => typeof rows[index]![column] === 'number')),
  ].join('\n');
}

export interface MicroArguments {
  jsonFile?: string;
}

/** Parses `[--json FILE]`; returns an error message for anything else. */
export function parseArguments(argv: readonly string[]): MicroArguments | string {
  const parsed: MicroArguments = {};
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (argument !== '--json') return `unknown argument: ${argument}`;
    const file = argv[index + 1];
    if (file === undefined || file === '') return '--json needs a file name';
    parsed.jsonFile = file;
    index++;
  }
  return parsed;
}

async function main(): Promise<void> {
  const parsed = parseArguments(process.argv.slice(2));
  if (typeof parsed === 'string') {
    process.stderr.write(`${parsed}\nusage: micro [--json FILE]\n`);
    process.exitCode = 2;
    return;
  }
  const roundrobin = benchRoundRobin();
  process.stdout.write(`roundrobin list lookup, ${SERVERS.length} servers (CloudStack reference: copy + search + rotate per call)\n`);
  process.stdout.write(
    formatTable(
      ['hosts', 'build ms', 'ours ns/op', 'cloudstack ns/op', 'cloudstack samples', 'ratio'],
      roundrobin.map((row) => [row.hosts, row.buildMs, row.nsPerLookup, row.referenceNsPerLookup, row.referenceLookups, row.ratio]),
    ) + '\n',
  );
  process.stdout.write(
    'ours does the same work at every size; what growth it shows is cache misses (random probes\n' +
      'into a bigger map), not the O(n) copy and search the reference repeats on every call.\n\n',
  );
  // Loaded only here so that importing this module (tests) does not pull in the fleet.
  const { benchBalanced, benchRegistry } = require('./micro-registry') as typeof import('./micro-registry');
  const registry = [...(await benchRegistry()), ...(await benchBalanced())];
  process.stdout.write('registry: resync and removal on a Fleet (4 zones, roundrobin), balanced planning (1 zone), the loop ticking beside it\n');
  process.stdout.write(
    formatTable(
      ['hosts', 'operation', 'total ms', 'longest stall ms', 'index work'],
      registry.map((row) => [row.hosts, row.operation, row.totalMs, row.longestStallMs, row.indexWork]),
    ) + '\n\n',
  );
  // Loaded only here so that importing this module (tests) does not pull in the codec bench.
  const { benchCodec } = require('./micro-codec') as typeof import('./micro-codec');
  const codec = benchCodec();
  process.stdout.write('codec\n');
  process.stdout.write(formatTable(['operation', 'ops/s', 'ns/op'], codec.map((row) => [row.name, row.opsPerSec, row.nsPerOp])) + '\n');
  if (parsed.jsonFile !== undefined) {
    writeFileSync(parsed.jsonFile, JSON.stringify({ node: process.version, roundrobin, registry, codec }, null, 2) + '\n');
    process.stdout.write(`\nwrote ${parsed.jsonFile}\n`);
  }
}

if (require.main === module) void main();
