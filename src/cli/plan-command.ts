/**
 * `agentlb plan [--algorithm A] [--host LIST] [--fail M1,M2]`: the what-if planner
 * (GET /api/plan) as a table and a bar chart.
 */
import type { PlanReport } from '../api/plan';
import { ALGORITHMS } from '../lb/index';
import { AdminClient, CLIENT_FLAGS, CLIENT_OPTIONS_HELP } from './admin-client';
import { EXIT_OK, nonEmpty, parseFlags, UsageError, withUsage, type CliIo, type Command } from './args';
import { formatPlan } from './plan-format';
import { reportClientError } from './report';

export const PLAN_USAGE = `Usage: agentlb plan [--algorithm A] [--host LIST] [--fail M1,M2] [options]

Shows, before anything changes, what a setting would do to the registered hosts: each
server's first-choice load, its load once the --fail servers are gone (every agent on its
first surviving entry), and how many agents would change first server if the setting were
applied now (an agent whose list stays up to date counts as staying). Without --algorithm
and --host it plans the current settings; with --fail alone it shows a failure's effect.

Options:
  --algorithm A       proposed indirect.agent.lb.algorithm: ${[...ALGORITHMS.keys()].join(', ')}
  --host LIST         proposed host setting (comma-separated, as you would set it)
  --fail M1,M2        servers to take as failed, each an entry of the (proposed) host list
${CLIENT_OPTIONS_HELP}
Exit status: 0 on success, 1 when the server refuses (a bad parameter is named) or cannot
be reached, 2 for a bad command line.
`;

const FLAGS = {
  ...CLIENT_FLAGS,
  algorithm: { type: 'string' },
  host: { type: 'string' },
  fail: { type: 'string' },
} as const;

/** The API path for the given flags; the server checks the values. */
export function planPath(flags: { algorithm?: string; host?: string; fail?: string }): string {
  const query = new URLSearchParams();
  for (const name of ['algorithm', 'host', 'fail'] as const) {
    const value = flags[name];
    if (value !== undefined) query.set(name, nonEmpty(`--${name}`, value));
  }
  const text = query.toString();
  return text === '' ? '/api/plan' : `/api/plan?${text}`;
}

async function runPlan(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help === true) {
    io.out(PLAN_USAGE);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const path = planPath(values);
  const client = AdminClient.fromFlags(values, io);
  return reportClientError(io, 'agentlb plan', async () => {
    const report = (await client.request('GET', path)) as PlanReport;
    io.out(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatPlan(report));
    return EXIT_OK;
  });
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'what-if: loads per server and agents moved, for a proposed setting or failure',
  run: (argv, io) => withUsage(io, 'agentlb plan', () => runPlan(argv, io)),
};
