/**
 * `agentlb servers`: the management servers of the fleet, as the server registry knows them.
 */
import type { ServerRecord } from '../store/types';
import { AdminClient, CLIENT_FLAGS, CLIENT_OPTIONS_HELP } from './admin-client';
import { EXIT_OK, parseFlags, UsageError, withUsage, type CliIo, type Command } from './args';
import { reportClientError } from './report';
import { formatTable } from './table';
import { DRAIN_HELP, DRAIN_USAGE, isDrainAction, runDrainAction } from './servers-drain';

export const SERVERS_USAGE = `Usage: agentlb servers [options]
${DRAIN_USAGE}

Lists the management servers of the fleet. Each server records itself in the server
registry (cluster mode: in PostgreSQL) when it starts and then every heartbeat interval; a
server whose last heartbeat is older than three intervals is listed as down. With the
embedded store the list holds the one server asked.

${DRAIN_HELP}

Options:
  --rate K            servers drain: agents handed over per second
  --timeout SECONDS   servers drain: hand the rest over at once this long after the drain
                      began (the request then waits the default 10 s)
${CLIENT_OPTIONS_HELP}
Columns: ADDRESS (the address agents use for it), STATE (up or down), AGENTS (connected at
its last heartbeat), STARTED and HEARTBEAT (ISO-8601 times, the registry's clock).
Exit status: 0 on success, 1 when the server refuses or cannot be reached (503 while its
database is unavailable), 2 for a bad command line.
`;

export function formatServers(servers: readonly ServerRecord[]): string {
  const rows = [['ADDRESS', 'STATE', 'AGENTS', 'STARTED', 'HEARTBEAT']];
  for (const server of servers) {
    rows.push([server.address, server.up ? 'up' : 'down', String(server.agents), server.startedAt, server.heartbeatAt]);
  }
  return formatTable(rows);
}

async function runServers(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...CLIENT_FLAGS, rate: { type: 'string' } }, true);
  if (values.help === true) {
    io.out(SERVERS_USAGE);
    return EXIT_OK;
  }
  const [action, ...rest] = positionals;
  if (action !== undefined && !isDrainAction(action)) {
    throw new UsageError(`unknown action ${JSON.stringify(action)} (expected drain, undrain or drains, or none to list)`);
  }
  if (action === undefined && values.rate !== undefined) throw new UsageError('--rate only applies to servers drain');
  // On `servers drain`, --timeout is the drain's deadline, not the request's.
  const client = AdminClient.fromFlags(action === 'drain' ? { ...values, timeout: undefined } : values, io);
  if (action !== undefined) return reportClientError(io, 'agentlb servers', () => runDrainAction(action, rest, values, client, io));
  return reportClientError(io, 'agentlb servers', async () => {
    const servers = (await client.request('GET', '/api/servers')) as ServerRecord[];
    io.out(values.json === true ? `${JSON.stringify(servers, null, 2)}\n` : formatServers(servers));
    return EXIT_OK;
  });
}

export const serversCommand: Command = {
  name: 'servers',
  summary: 'list the management servers of the fleet, up or down',
  run: (argv, io) => withUsage(io, 'agentlb servers', () => runServers(argv, io)),
};
