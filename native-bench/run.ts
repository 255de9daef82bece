/**
 * `npm run bench -- [SCENARIO] [flags]` (node dist/native-bench/run.js): runs the scenarios,
 * prints autocannon-style tables, writes --json, and — for a bare `npm run bench` — rewrites
 * the generated part of BENCHMARKS.md. See USAGE in options.ts.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadNow, machineInfo } from './machine';
import { BenchUsageError, parseBenchArgs, USAGE, type BenchOptions } from './options';
import { paths } from './paths';
import { renderMarkdown, updateMarkdownFile } from './report/markdown';
import { tablesFor, verdictTable } from './report/model';
import { progressFactory } from './report/progress';
import { renderTerminal } from './report/terminal';
import type { BenchReport, ScenarioName, ScenarioResult } from './results';
import { runAdminHttp } from './scenarios/admin-http';
import type { ScenarioContext } from './scenarios/context';
import { runHandshake } from './scenarios/handshake';
import { runIdle } from './scenarios/idle';
import { runPropagate } from './scenarios/propagate';
import { runStorm } from './scenarios/storm';
import { runClusterStorm } from './scenarios/cluster-storm';
import { updateClusterSection } from './report/cluster-markdown';
import { updateAlgorithmsSection } from './report/algorithms-markdown';
import { runScale } from './scenarios/scale';
import { runRebalance } from './scenarios/rebalance';
import { runCalls } from './scenarios/calls';
import { CALLS_SECTION, REBALANCE_SECTION, SCALE_SECTION } from './report/scenario-markdown';

const RUNNERS: Record<ScenarioName, (ctx: ScenarioContext) => Promise<ScenarioResult>> = {
  handshake: runHandshake,
  storm: (ctx) => (ctx.opts.cluster === undefined ? runStorm(ctx) : runClusterStorm(ctx)),
  propagate: runPropagate,
  idle: runIdle,
  'admin-http': runAdminHttp,
  scale: runScale,
  rebalance: runRebalance,
  calls: runCalls,
};

export interface BenchIo {
  /** Tables (stdout). */
  out: (text: string) => void;
  /** Step notes (stderr). */
  log: (line: string) => void;
  color: boolean;
}

/** Runs the chosen scenarios one after another (they would skew each other side by side). */
export async function runBench(opts: BenchOptions, command: string, io: BenchIo): Promise<BenchReport> {
  const ctx: ScenarioContext = { opts, progress: progressFactory(opts.progress), log: io.log };
  const began = process.hrtime.bigint();
  const loadAtStart = loadNow();
  const results: ScenarioResult[] = [];
  for (const name of opts.scenarios) {
    const result = await RUNNERS[name](ctx);
    results.push(result);
    io.out(renderTerminal(tablesFor(result), io.color) + '\n');
  }
  const report: BenchReport = { command, machine: machineInfo(loadAtStart), durationS: Number(process.hrtime.bigint() - began) / 1e9, results };
  const verdicts = results.flatMap((r) => ('verdicts' in r ? r.verdicts : []));
  if (verdicts.length > 0) io.out(renderTerminal([verdictTable(verdicts)], io.color) + '\n');
  if (opts.json !== undefined) await writeFile(opts.json, JSON.stringify(report, null, 2) + '\n');
  const own = [CALLS_SECTION, REBALANCE_SECTION, SCALE_SECTION].find((section) => opts.scenarios.includes(section.scenario));
  if (own !== undefined) {
    // A named-only scenario keeps its own section of BENCHMARKS.md (report/scenario-markdown.ts).
    const file = opts.markdown ?? path.join(paths.root(), 'BENCHMARKS.md');
    await own.update(file, report);
    io.log(`bench: wrote the ${own.scenario} section of ${file}`);
  } else if (opts.cluster !== undefined) {
    // A cluster run keeps its own section of BENCHMARKS.md (report/cluster-markdown.ts).
    const file = opts.markdown ?? path.join(paths.root(), 'BENCHMARKS.md');
    await updateClusterSection(file, report);
    io.log(`bench: wrote the cluster section of ${file}`);
  } else if (opts.markdown !== undefined || opts.all) {
    const file = opts.markdown ?? path.join(paths.root(), 'BENCHMARKS.md');
    await updateMarkdownFile(file, renderMarkdown(report));
    io.log(`bench: wrote ${file}`);
    if (opts.all) {
      // Plan table and micro-benchmarks need no server: measured last, on a quiet process.
      await updateAlgorithmsSection(file);
      io.log(`bench: wrote the algorithms section of ${file}`);
    }
  }
  return report;
}

/** The process entry; resolves with the exit code (2: bad usage, 1: a scenario failed). */
export async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions | 'help';
  try {
    opts = parseBenchArgs(argv, process.stderr.isTTY === true);
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    process.stderr.write(`bench: ${err.message} (see npm run bench -- --help)\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  try {
    await runBench(opts, command, {
      out: (text) => process.stdout.write(text + '\n'),
      log: (line) => process.stderr.write(line + '\n'),
      color: process.stdout.isTTY === true,
    });
    return 0;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
