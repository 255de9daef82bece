/**
 * `node dist/native-bench/cpu-profile.js FILE.cpuprofile [--top N]`: what a V8 CPU profile
 * (node --cpu-prof; `npm run bench -- handshake --cpu-prof DIR`) spent its time on: the
 * functions with the most self time, and the most inclusive time (a function and everything
 * it called), as shares of the busy samples (all but "(idle)": a server under a benchmark on
 * a shared machine waits much of the time). How BENCHMARKS.md's profile tables are made.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
}

export interface ProfileRow {
  name: string;
  /** Share of all samples, 0..1. */
  share: number;
}

export interface ProfileSummary {
  samples: number;
  /** Samples not "(idle)": the denominator of every share. */
  busy: number;
  self: ProfileRow[];
  inclusive: ProfileRow[];
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === '' ? '' : ` ${path.basename(url.replace(/^file:\/\//, ''))}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${file}`;
}

export function summarizeProfile(profile: Profile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let samples = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    samples += hits;
    const name = label(node);
    self.set(name, (self.get(name) ?? 0) + hits);
    // Each distinct function on the stack once (recursion counted once).
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const ancestor = label(byId.get(id)!);
      if (seen.has(ancestor)) continue;
      seen.add(ancestor);
      inclusive.set(ancestor, (inclusive.get(ancestor) ?? 0) + hits);
    }
  }
  const busy = samples - (self.get('(idle)') ?? 0);
  self.delete('(idle)');
  inclusive.delete('(idle)');
  inclusive.delete('(root)');
  const rows = (m: Map<string, number>): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, share: busy === 0 ? 0 : hits / busy }));
  return { samples, busy, self: rows(self), inclusive: rows(inclusive) };
}

if (require.main === module) {
  const { values, positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: node dist/native-bench/cpu-profile.js FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(values.top));
  const pct = (share: number): string => `${(share * 100).toFixed(1)}%`.padStart(6);
  process.stdout.write(`${summary.samples} samples, ${summary.busy} busy (shares below are of the busy ones)\n\nself time:\n`);
  for (const row of summary.self) process.stdout.write(`${pct(row.share)}  ${row.name}\n`);
  process.stdout.write('\ninclusive time:\n');
  for (const row of summary.inclusive) process.stdout.write(`${pct(row.share)}  ${row.name}\n`);
}
