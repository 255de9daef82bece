/**
 * `agentlb settings get` and `agentlb settings set KEY=VALUE ...`.
 */
import { SETTING_CHECK_INTERVAL, SETTING_REBALANCE_GRACE, SETTING_REBALANCE_THRESHOLD } from '../settings/types';
import { SETTING_KEYS } from '../settings/validate';
import { ALGORITHMS } from '../lb/index';
import { AdminClient, CLIENT_FLAGS, CLIENT_OPTIONS_HELP } from './admin-client';
import { EXIT_OK, parseFlags, UsageError, withUsage, type CliIo, type Command } from './args';
import { reportClientError } from './report';

/** Keys whose values are numbers: `KEY=60` is sent as 60, not "60". */
const NUMERIC_KEYS: ReadonlySet<string> = new Set([SETTING_CHECK_INTERVAL, SETTING_REBALANCE_THRESHOLD, SETTING_REBALANCE_GRACE]);

/** `a, b or c`: the registry's names, so a new algorithm shows up here by itself. */
function orList(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

export const SETTINGS_USAGE = `Usage: agentlb settings get [options]
       agentlb settings set KEY=VALUE [KEY=VALUE ...] [options]

Shows or changes the global settings of a running server, through its admin API. A change is
validated by the server first (a bad value is refused and nothing changes), persisted, then
pushed live to every connected agent whose list, algorithm or interval it changes.

Keys:
  host                               comma-separated server addresses (addr, addr:port, [v6]:port)
  indirect.agent.lb.algorithm        ${orList([...ALGORITHMS.keys()])}
  indirect.agent.lb.check.interval   seconds between an agent's preferred-host checks; 0 = off
  indirect.agent.lb.rebalance        auto (move misplaced agents back to the plan) or off
  indirect.agent.lb.rebalance.threshold
                                     percent off its planned load a server may be (1..100, 20)
  indirect.agent.lb.rebalance.grace  seconds it must last before auto moves agents (0..86400, 60)

${CLIENT_OPTIONS_HELP}
Exit status: 0 on success, 1 when the server refuses or cannot be reached, 2 for a bad
command line.
`;

function printSettings(io: CliIo, settings: unknown, asJson: boolean): void {
  if (asJson) {
    io.out(`${JSON.stringify(settings, null, 2)}\n`);
    return;
  }
  for (const [key, value] of Object.entries(settings as Record<string, unknown>)) io.out(`${key}=${String(value)}\n`);
}

/** `KEY=VALUE` -> patch entries; the interval is sent as a number when it looks like one. */
export function parseAssignments(assignments: readonly string[]): Record<string, unknown> {
  if (assignments.length === 0) throw new UsageError(`settings set needs at least one KEY=VALUE (keys: ${SETTING_KEYS.join(', ')})`);
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const at = assignment.indexOf('=');
    if (at <= 0) throw new UsageError(`expected KEY=VALUE, got ${JSON.stringify(assignment)}`);
    const key = assignment.slice(0, at);
    const value = assignment.slice(at + 1);
    if (Object.hasOwn(patch, key)) throw new UsageError(`${key} is given twice`);
    // A non-numeric number is sent as the string so the server's error names it as typed.
    patch[key] = NUMERIC_KEYS.has(key) && /^[0-9]+$/.test(value) ? Number(value) : value;
  }
  return patch;
}

async function runSettings(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, CLIENT_FLAGS, true);
  if (values.help === true) {
    io.out(SETTINGS_USAGE);
    return EXIT_OK;
  }
  const [action, ...rest] = positionals;
  if (action !== 'get' && action !== 'set') {
    throw new UsageError(action === undefined ? 'missing action: get or set' : `unknown action ${JSON.stringify(action)} (expected get or set)`);
  }
  if (action === 'get' && rest.length > 0) throw new UsageError(`settings get takes no arguments, got ${JSON.stringify(rest[0])}`);
  const patch = action === 'set' ? parseAssignments(rest) : undefined;
  const client = AdminClient.fromFlags(values, io);
  return reportClientError(io, 'agentlb settings', async () => {
    const settings = await client.request(action === 'get' ? 'GET' : 'PUT', '/api/settings', patch);
    printSettings(io, settings, values.json === true);
    return EXIT_OK;
  });
}

export const settingsCommand: Command = {
  name: 'settings',
  summary: 'show or change the global settings (get, set KEY=VALUE ...)',
  run: (argv, io) => withUsage(io, 'agentlb settings', () => runSettings(argv, io)),
};
