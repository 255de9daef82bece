/**
 * `agentlb servers rebalance [--rate K] [--zone Z] [--dry-run]`, `... rebalance status` and
 * `... rebalance stop`: the rebalance through the admin API (src/admin/rebalance-routes.ts).
 * On a terminal, a started rebalance is followed with a progress bar until it ends (Ctrl-C
 * leaves it running); elsewhere the command prints the answer and returns.
 */
import { MAX_REBALANCE_RATE, type RebalanceStatus } from '../api/rebalance';
import type { AdminClient } from './admin-client';
import { EXIT_OK, parseInteger, UsageError, type CliIo } from './args';

export const REBALANCE_USAGE = `       agentlb servers rebalance [--rate K] [--zone Z] [--dry-run] [options]
       agentlb servers rebalance status|stop [options]`;

export const REBALANCE_HELP = `rebalance: moves the connected agents whose server is not their first usable entry (not
draining, not down) back to it, make-before-break, at most K per second across the whole
fleet (default: the server's --drain-rate); --zone only that zone's agents; --dry-run only
counts them. status shows the progress of the current (or last) rebalance; stop ends it.`;

export interface RebalanceFlags {
  rate?: string;
  zone?: string;
  'dry-run'?: boolean;
  json?: boolean;
}

/** Polling interval of the progress bar. */
const FOLLOW_MS = 500;
const BAR_WIDTH = 30;

export function formatRebalance(status: RebalanceStatus): string {
  if (status.startedAt === null) return 'no rebalance has run\n';
  const done = status.moved + status.notMoved;
  const what = status.active
    ? `rebalance (${status.source}) running since ${status.startedAt} at ${status.rate}/s`
    : `rebalance (${status.source}) ended ${status.endedAt} (${status.endReason})`;
  const zone = status.zone === null ? '' : ` in zone ${status.zone}`;
  return `${what}${zone}: ${status.moved} moved, ${status.notMoved} not moved, ${Math.max(0, status.toMove - done)} left of ${status.toMove}\n`;
}

/** `[#####.....] 120/300 moved, 2 not moved`: drawn over itself with a carriage return. */
export function progressLine(status: RebalanceStatus): string {
  const done = status.moved + status.notMoved;
  const filled = status.toMove === 0 ? BAR_WIDTH : Math.min(BAR_WIDTH, Math.round((done / status.toMove) * BAR_WIDTH));
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${status.toMove}: ${status.moved} moved, ${status.notMoved} not moved`;
}

export async function runRebalanceAction(args: readonly string[], flags: RebalanceFlags, client: AdminClient, io: CliIo, isTty: boolean): Promise<number> {
  const [sub, extra] = args;
  if (extra !== undefined) throw new UsageError(`servers rebalance takes at most one of status or stop, got ${JSON.stringify(extra)}`);
  if (sub !== undefined && sub !== 'status' && sub !== 'stop') throw new UsageError(`unknown rebalance action ${JSON.stringify(sub)} (expected status or stop, or none to start)`);
  if (sub !== undefined && (flags.rate !== undefined || flags.zone !== undefined || flags['dry-run'] === true)) {
    throw new UsageError(`--rate, --zone and --dry-run only apply to starting a rebalance, not to rebalance ${sub}`);
  }
  const print = (answer: unknown, text: string): void => io.out(flags.json === true ? `${JSON.stringify(answer, null, 2)}\n` : text);
  if (sub === 'status') {
    const status = (await client.request('GET', '/api/rebalance')) as RebalanceStatus;
    print(status, formatRebalance(status));
    return EXIT_OK;
  }
  if (sub === 'stop') {
    const stopped = (await client.request('DELETE', '/api/rebalance')) as RebalanceStatus & { stopped: boolean };
    print(stopped, stopped.stopped ? `stopped: ${formatRebalance(stopped)}` : 'no rebalance was running\n');
    return EXIT_OK;
  }
  const body: Record<string, unknown> = {};
  if (flags.rate !== undefined) body.rate = parseInteger('--rate', flags.rate, 1, MAX_REBALANCE_RATE);
  if (flags.zone !== undefined) {
    if (flags.zone === '') throw new UsageError('--zone must not be empty');
    body.zone = flags.zone;
  }
  if (flags['dry-run'] === true) body.dryRun = true;
  const answer = (await client.request('POST', '/api/rebalance', body)) as { toMove: number; rate: number; dryRun?: boolean };
  if (answer.dryRun === true) {
    print(answer, `${answer.toMove} agents would be moved, at most ${answer.rate}/s (dry run: nothing moved)\n`);
    return EXIT_OK;
  }
  print(answer, `rebalance started: ${answer.toMove} agents to move, at most ${answer.rate}/s across the fleet\n`);
  if (!isTty || flags.json === true || answer.toMove === 0) return EXIT_OK;
  for (;;) {
    const status = (await client.request('GET', '/api/rebalance')) as RebalanceStatus;
    io.err(`\r${progressLine(status)}`);
    if (!status.active) {
      io.err(`\n${formatRebalance(status)}`);
      return EXIT_OK;
    }
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
  }
}
