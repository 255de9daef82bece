/**
 * `agentlb hosts` and `agentlb hosts remove ID`.
 */
import type { HostView } from '../server/fleet/controller';
import { AdminClient, AdminClientError, CLIENT_FLAGS, CLIENT_OPTIONS_HELP } from './admin-client';
import { EXIT_OK, parseFlags, parseInteger, UsageError, withUsage, type CliIo, type Command } from './args';
import { reportClientError } from './report';
import { formatTable, printable } from './table';

export const HOSTS_USAGE = `Usage: agentlb hosts [options]
       agentlb hosts remove ID [--force] [options]

Lists the hosts (agents) registered with a running server, or removes one. A host id is never
reused: an agent whose host was removed registers again under a new id when it reconnects.
Removing a host re-sends lists to the agents of its zone whose position moved.

Options:
  --force             remove a connected host: its connection is closed first (without it,
                      removing a connected host is refused)
${CLIENT_OPTIONS_HELP}
Columns: ID, GUID, ZONE, CONNECTED (the remote address, or -), LIST (the last list sent on
the current connection, with its algorithm; - when the agent's own list was up to date) and
ACKED (yes, no = the agent could not persist it, pending, or -).
Exit status: 0 on success, 1 when the server refuses or cannot be reached, 2 for a bad
command line.
`;

const FLAGS = { ...CLIENT_FLAGS, force: { type: 'boolean' } } as const;

function ackedText(view: HostView): string {
  if (view.lastSent === null) return '-';
  if (view.acked === null) return 'pending';
  return view.acked ? 'yes' : 'no';
}

function printHosts(io: CliIo, hosts: HostView[]): void {
  const rows = [['ID', 'GUID', 'ZONE', 'CONNECTED', 'LIST', 'ACKED']];
  for (const host of hosts) {
    rows.push([
      String(host.id),
      host.guid,
      host.zone,
      host.connected ? (host.remoteAddress ?? 'yes') : '-',
      host.lastSent === null ? '-' : `${host.lastSent.hosts.join(',')}@${host.lastSent.algorithm}`,
      ackedText(host),
    ]);
  }
  io.out(formatTable(rows));
}

async function runHosts(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help === true) {
    io.out(HOSTS_USAGE);
    return EXIT_OK;
  }
  const [action, ...rest] = positionals;
  if (action !== undefined && action !== 'remove') throw new UsageError(`unknown action ${JSON.stringify(action)} (expected remove, or none to list)`);
  if (action === undefined && values.force === true) throw new UsageError('--force only applies to hosts remove');
  let id: number | undefined;
  if (action === 'remove') {
    if (rest.length !== 1) throw new UsageError(`hosts remove takes exactly one host ID, got ${rest.length}`);
    id = parseInteger('host ID', rest[0]!, 0, Number.MAX_SAFE_INTEGER);
  }
  const client = AdminClient.fromFlags(values, io);
  return reportClientError(io, 'agentlb hosts', async () => {
    if (id === undefined) {
      const hosts = (await client.request('GET', '/api/hosts')) as HostView[];
      if (values.json === true) io.out(`${JSON.stringify(hosts, null, 2)}\n`);
      else printHosts(io, hosts);
      return EXIT_OK;
    }
    const result = (await client.request('DELETE', `/api/hosts/${id}${values.force === true ? '?force=true' : ''}`).catch((error: unknown) => {
      throw inCliTerms(error, id);
    })) as {
      removed: { id: number; guid: string };
      agentsUpdated: number;
    };
    if (values.json === true) io.out(`${JSON.stringify(result, null, 2)}\n`);
    else io.out(`removed host ${result.removed.id} (${printable(result.removed.guid)}); ${result.agentsUpdated} agent(s) sent a new list\n`);
    return EXIT_OK;
  });
}

/** The API's 409 tells an HTTP client to add `?force=true`; a CLI user needs the flag instead. */
function inCliTerms(error: unknown, id: number): unknown {
  if (!(error instanceof AdminClientError) || error.status !== 409) return error;
  return new AdminClientError(error.code, error.message.replace('add ?force=true', `run \`agentlb hosts remove ${id} --force\``), error.status);
}

export const hostsCommand: Command = {
  name: 'hosts',
  summary: 'list the registered hosts, or remove one (remove ID)',
  run: (argv, io) => withUsage(io, 'agentlb hosts', () => runHosts(argv, io)),
};
