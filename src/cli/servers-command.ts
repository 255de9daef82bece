/**
 * `agentlb servers`: the management servers of the fleet, as the server registry knows them.
 */
import type { ServerRecord } from '../store/types';
import { AdminClient, CLIENT_FLAGS, CLIENT_OPTIONS_HELP } from './admin-client';
import { EXIT_OK, nonEmpty, parseFlags, UsageError, withUsage, type CliIo, type Command } from './args';
import { reportClientError } from './report';
import { formatTable, printable } from './table';
import { DRAIN_HELP, DRAIN_USAGE, isDrainAction, runDrainAction } from './servers-drain';
import { REBALANCE_HELP, REBALANCE_USAGE, runRebalanceAction } from './servers-rebalance';

export const SERVERS_USAGE = `Usage: agentlb servers [options]
${DRAIN_USAGE}
       agentlb servers forget ADDRESS [options]
${REBALANCE_USAGE}

Lists the management servers of the fleet. Each server records itself in the server
registry (cluster mode: in PostgreSQL) when it starts and then every heartbeat interval; a
server whose last heartbeat is older than three intervals is listed as down, and one
stopped cleanly (SIGTERM) is listed as stopped at once. With the embedded store the list
holds the one server asked.

forget: removes a server that is down or stopped from the registry for good (a retired
server; refused while it is up). A server that starts again is listed again.

${DRAIN_HELP}

${REBALANCE_HELP}

Options:
  --rate K            servers drain: agents handed over per second; servers rebalance:
                      agents moved per second across the fleet
  --zone Z            servers rebalance: only agents of zone Z
  --dry-run           servers rebalance: count the agents it would move, move none
  --timeout SECONDS   servers drain: hand the rest over at once this long after the drain
                      began (the request then waits the default 10 s)
${CLIENT_OPTIONS_HELP}
Columns: ADDRESS (the address agents use for it), STATE (up, down or stopped), AGENTS (connected at
its last heartbeat), PLANNED (connected agents whose first usable entry it is, from the last
survey; - before the first), STARTED and HEARTBEAT (ISO-8601 times, the registry's clock).
Exit status: 0 on success, 1 when the server refuses or cannot be reached (503 while its
database is unavailable), 2 for a bad command line.
`;

export function formatServers(servers: readonly (ServerRecord & { planned?: number | null })[]): string {
  const rows = [['ADDRESS', 'STATE', 'AGENTS', 'PLANNED', 'STARTED', 'HEARTBEAT']];
  for (const server of servers) {
    // A server of an older release reports no state.
    const state = server.state ?? (server.up ? 'up' : 'down');
    const planned = server.planned === undefined || server.planned === null ? '-' : String(server.planned);
    rows.push([server.address, state, String(server.agents), planned, server.startedAt, server.heartbeatAt]);
  }
  return formatTable(rows);
}

async function runServers(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    { ...CLIENT_FLAGS, rate: { type: 'string' }, zone: { type: 'string' }, 'dry-run': { type: 'boolean' } },
    true,
  );
  if (values.help === true) {
    io.out(SERVERS_USAGE);
    return EXIT_OK;
  }
  const [action, ...rest] = positionals;
  if (action !== undefined && action !== 'forget' && action !== 'rebalance' && !isDrainAction(action)) {
    throw new UsageError(`unknown action ${JSON.stringify(action)} (expected drain, undrain, drains, forget or rebalance, or none to list)`);
  }
  if (action !== 'rebalance' && (values.zone !== undefined || values['dry-run'] !== undefined)) {
    throw new UsageError('--zone and --dry-run only apply to servers rebalance');
  }
  if (action === 'forget') {
    if (values.rate !== undefined) throw new UsageError('--rate only applies to servers drain');
    if (rest.length !== 1) throw new UsageError(`servers forget takes exactly one ADDRESS, got ${rest.length}`);
    const address = nonEmpty('ADDRESS', rest[0]!);
    const client = AdminClient.fromFlags(values, io);
    return reportClientError(io, 'agentlb servers', async () => {
      const result = (await client.request('DELETE', `/api/servers/${encodeURIComponent(address)}`)) as { forgotten: ServerRecord };
      if (values.json === true) io.out(`${JSON.stringify(result, null, 2)}\n`);
      else io.out(`forgot server ${printable(result.forgotten.address)} (was ${result.forgotten.state ?? 'down'})\n`);
      return EXIT_OK;
    });
  }
  if (action === undefined && values.rate !== undefined) throw new UsageError('--rate only applies to servers drain and servers rebalance');
  // On `servers drain`, --timeout is the drain's deadline, not the request's.
  const client = AdminClient.fromFlags(action === 'drain' ? { ...values, timeout: undefined } : values, io);
  if (action === 'rebalance') return reportClientError(io, 'agentlb servers', () => runRebalanceAction(rest, values, client, io, io.isTty === true));
  if (action !== undefined) return reportClientError(io, 'agentlb servers', () => runDrainAction(action, rest, values, client, io));
  return reportClientError(io, 'agentlb servers', async () => {
    const servers = (await client.request('GET', '/api/servers')) as ServerRecord[];
    io.out(values.json === true ? `${JSON.stringify(servers, null, 2)}\n` : formatServers(servers));
    return EXIT_OK;
  });
}

export const serversCommand: Command = {
  name: 'servers',
  summary: 'list the management servers of the fleet, up, down or stopped (forget ADDRESS)',
  run: (argv, io) => withUsage(io, 'agentlb servers', () => runServers(argv, io)),
};
