/**
 * `agentlb servers drain [ADDRESS] [--rate K]`, `agentlb servers undrain [ADDRESS]` and
 * `agentlb servers drains`: graceful drain through the admin API (src/admin/drain-routes.ts).
 */
import { DEFAULT_DRAIN_RATE, MAX_DRAIN_RATE, MAX_DRAIN_TIMEOUT_SECONDS, type DrainOutcome, type DrainStatus, type UndrainOutcome } from '../api/drain';
import type { AdminClient } from './admin-client';
import { EXIT_OK, parseInteger, parseSecondsAsMs, UsageError, type CliIo } from './args';
import { formatTable } from './table';

export const DRAIN_ACTIONS = ['drain', 'undrain', 'drains'] as const;
export type DrainAction = (typeof DRAIN_ACTIONS)[number];

export const DRAIN_USAGE = `       agentlb servers drain [ADDRESS] [--rate K] [--timeout SECONDS] [options]
       agentlb servers undrain [ADDRESS] [options]
       agentlb servers drains [options]`;

export const DRAIN_HELP = `drain: the server named ADDRESS (exactly as written in the host setting; default: the
server asked) stops admitting agents (they get \`error draining\` and try their next server)
and tells its connected agents to move on, at most K per second (default: its --drain-rate,
${DEFAULT_DRAIN_RATE}). Every list sent from then on puts it last, so each agent moves to its next entry.
With --timeout, the agents not handed over SECONDS after the drain began are all handed over
at once, and the drain is listed as timed out (on servers drain, --timeout is this deadline;
the request itself waits the default 10 s).
undrain ends it: lists put it back, and agents return through their preferred-host checks.
drains lists the drains the server asked knows (cluster mode: the whole fleet's).`;

export function isDrainAction(action: string): action is DrainAction {
  return (DRAIN_ACTIONS as readonly string[]).includes(action);
}

function scopeNote(scope: DrainOutcome['scope']): string {
  return scope === 'cluster'
    ? 'every server of the cluster sends it last'
    : 'this server sends it last (embedded mode: drain it on each server that sends lists)';
}

function describeDrain(outcome: DrainOutcome): string {
  const who = outcome.self ? `${outcome.address} (the server asked)` : outcome.address;
  const deadline = outcome.timeout === undefined ? '' : `, the rest at once after ${outcome.timeout} s`;
  return `draining ${who} at ${outcome.rate} agents/s since ${outcome.since}${deadline}; ${scopeNote(outcome.scope)}\n`;
}

function describeUndrain(outcome: UndrainOutcome): string {
  return outcome.wasDraining ? `${outcome.address} is no longer draining\n` : `${outcome.address} was not draining\n`;
}

export function formatDrains(status: DrainStatus): string {
  const lines: string[] = [];
  if (status.draining.length === 0) lines.push('no server is draining\n');
  else {
    const rows = [['ADDRESS', 'STATE', 'RATE', 'TIMEOUT', 'SINCE', 'SELF']];
    for (const drain of status.draining) {
      const timeout = drain.timeout === undefined ? '-' : `${drain.timeout}s`;
      rows.push([drain.address, drain.timedOut ? 'timed out' : 'draining', `${drain.rate}/s`, timeout, drain.since, drain.self ? 'yes' : '-']);
    }
    lines.push(formatTable(rows));
  }
  const self = status.self ?? 'unknown address (start it with --advertise)';
  const { handover } = status;
  lines.push(
    !handover.active
      ? `this server (${self}): not draining, ${handover.agents} agents connected\n`
      : handover.timedOut
        ? `this server (${self}): drain timed out at ${handover.deadline}, ${handover.handedOver} agents handed over, ${handover.agents} still connected\n`
        : `this server (${self}): draining at ${handover.rate}/s, ${handover.handedOver} agents handed over, ${handover.agents} still connected` +
          `${handover.deadline === null ? '' : `, the rest at once at ${handover.deadline}`}\n`,
  );
  lines.push(`drains known to ${status.scope === 'cluster' ? 'every server of the cluster' : 'this server only (embedded mode)'}\n`);
  return lines.join('');
}

/** `servers drain --timeout SECONDS`: a positive number of seconds, at most a week. */
function drainTimeout(value: string): number {
  const ms = parseSecondsAsMs('--timeout', value);
  if (ms < 1 || ms > MAX_DRAIN_TIMEOUT_SECONDS * 1000) {
    throw new UsageError(`--timeout must be a number of seconds from 0.001 to ${MAX_DRAIN_TIMEOUT_SECONDS}, got ${JSON.stringify(value)}`);
  }
  return ms / 1000;
}

/** Runs one drain action; usage errors throw UsageError, API failures AdminClientError. */
export async function runDrainAction(
  action: DrainAction,
  args: readonly string[],
  flags: { rate?: string; timeout?: string; json?: boolean },
  client: AdminClient,
  io: CliIo,
): Promise<number> {
  if (action !== 'drain' && flags.rate !== undefined) throw new UsageError('--rate only applies to servers drain');
  const most = action === 'drains' ? 0 : 1;
  if (args.length > most) throw new UsageError(`servers ${action} takes ${most === 0 ? 'no argument' : 'at most one ADDRESS'}, got ${JSON.stringify(args[most])}`);
  const rate = flags.rate === undefined ? undefined : parseInteger('--rate', flags.rate, 1, MAX_DRAIN_RATE);
  const timeout = flags.timeout === undefined ? undefined : drainTimeout(flags.timeout);
  const body = {
    ...(args[0] === undefined ? {} : { address: args[0] }),
    ...(rate === undefined ? {} : { rate }),
    ...(timeout === undefined ? {} : { timeout }),
  };
  const answer =
    action === 'drains'
      ? await client.request('GET', '/api/servers/drains')
      : await client.request('POST', `/api/servers/${action}`, body);
  if (flags.json === true) io.out(`${JSON.stringify(answer, null, 2)}\n`);
  else if (action === 'drain') io.out(describeDrain(answer as DrainOutcome));
  else if (action === 'undrain') io.out(describeUndrain(answer as UndrainOutcome));
  else io.out(formatDrains(answer as DrainStatus));
  return EXIT_OK;
}
