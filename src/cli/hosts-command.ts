/**
 * `agentlb hosts` and `agentlb hosts remove ID`.
 */
import { HOST_VIEW_HEADER, MAX_PAGE, type HostView, type RemovedHost } from '../api/hosts';
import { AdminClient, AdminClientError, CLIENT_FLAGS, CLIENT_OPTIONS_HELP } from './admin-client';
import { EXIT_OK, nonEmpty, parseFlags, parseInteger, UsageError, withUsage, type CliIo, type Command } from './args';
import { reportClientError } from './report';
import { formatTable, printable } from './table';

/** `hosts reissue ID`: the host's guid may enrol again with the token (trust on first enrolment reset). */
async function runReissue(rest: string[], values: Parameters<typeof AdminClient.fromFlags>[0] & { force?: boolean | undefined; json?: boolean | undefined }, io: CliIo): Promise<number> {
  if (values.force === true) throw new UsageError('--force only applies to hosts remove');
  if (rest.length !== 1) throw new UsageError(`hosts reissue takes exactly one host ID, got ${rest.length}`);
  const id = parseInteger('host ID', rest[0]!, 0, Number.MAX_SAFE_INTEGER);
  const client = AdminClient.fromFlags(values, io);
  return reportClientError(io, 'agentlb hosts', async () => {
    const result = (await client.request('POST', `/api/hosts/${id}/reissue`)) as { id: number; guid: string; hadCertificate: boolean };
    if (values.json === true) io.out(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const what = result.hadCertificate ? 'its certificate is forgotten' : 'it held no certificate';
      io.out(`host ${result.id} (${printable(result.guid)}): ${what}; the next agent with the enrolment token may enrol it\n`);
    }
    return EXIT_OK;
  });
}

const DEFAULT_PAGE_SIZE = 1_000;

export const HOSTS_USAGE = `Usage: agentlb hosts [--server ADDR] [--zone Z] [--connected | --disconnected]
                     [--limit N] [--after ID] [options]
       agentlb hosts remove ID [--force] [options]
       agentlb hosts reissue ID [options]

Lists the hosts (agents) registered with the fleet, asked of any of its servers, or removes
one. In cluster mode every server knows where every agent is connected. A host id is never
reused: an agent whose host was removed registers again under a new id when it reconnects.
Removing a host re-sends lists to the agents of its zone whose position moved. Reissuing a
host lets the next agent with the enrolment token enrol its guid again (its key was lost,
or the host reinstalled): the token alone never takes over an enrolled guid otherwise.

Options:
  --server ADDR       only the hosts connected to this server (its address in agentlb servers)
  --zone Z            only the hosts of zone Z
  --connected         only the hosts connected to a server of the fleet
  --disconnected      only the hosts connected to none
  --limit N           one page of at most N hosts (1..${MAX_PAGE}); without it, every host, fetched
                      in pages of --page-size
  --after ID          start after host ID (the next page: the last ID shown)
  --page-size N       hosts per request when listing every host (default ${DEFAULT_PAGE_SIZE})
  --force             remove a connected host: the server holding its connection closes it
                      first (without it, removing a host connected to any server is refused)
${CLIENT_OPTIONS_HELP}
Columns: ID, GUID, ZONE, CONNECTED (the remote address, or -), SERVER (the server holding
the connection, or -), LIST (the last list the server asked sent on the current connection,
with its algorithm; - when the agent's own list was up to date or another server holds it)
and ACKED (yes, no = the agent could not persist it, pending, or -).
Exit status: 0 on success, 1 when the server refuses or cannot be reached, 2 for a bad
command line.
`;

const FLAGS = {
  ...CLIENT_FLAGS,
  force: { type: 'boolean' },
  server: { type: 'string' },
  zone: { type: 'string' },
  connected: { type: 'boolean' },
  disconnected: { type: 'boolean' },
  limit: { type: 'string' },
  after: { type: 'string' },
  'page-size': { type: 'string' },
} as const;

const LIST_ONLY = ['server', 'zone', 'connected', 'disconnected', 'limit', 'after', 'page-size'] as const;

function ackedText(view: HostView): string {
  if (view.lastSent === null) return '-';
  if (view.acked === null) return 'pending';
  return view.acked ? 'yes' : 'no';
}

function printHosts(io: CliIo, hosts: HostView[]): void {
  const rows = [['ID', 'GUID', 'ZONE', 'CONNECTED', 'SERVER', 'LIST', 'ACKED']];
  for (const host of hosts) {
    rows.push([
      String(host.id),
      host.guid,
      host.zone,
      host.connected ? (host.remoteAddress ?? 'yes') : '-',
      host.server ?? '-',
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
  if (action === 'reissue') return runReissue(rest, values, io);
  if (action !== undefined && action !== 'remove') throw new UsageError(`unknown action ${JSON.stringify(action)} (expected remove, reissue, or none to list)`);
  if (action === undefined && values.force === true) throw new UsageError('--force only applies to hosts remove');
  if (action === 'remove') {
    const listFlag = LIST_ONLY.find((flag) => values[flag] !== undefined);
    if (listFlag !== undefined) throw new UsageError(`--${listFlag} only applies to listing hosts`);
  }
  if (values.connected === true && values.disconnected === true) throw new UsageError('--connected and --disconnected exclude each other');
  let id: number | undefined;
  if (action === 'remove') {
    if (rest.length !== 1) throw new UsageError(`hosts remove takes exactly one host ID, got ${rest.length}`);
    id = parseInteger('host ID', rest[0]!, 0, Number.MAX_SAFE_INTEGER);
  } else if (rest.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  }
  const filter = new URLSearchParams();
  if (values.server !== undefined) filter.set('server', nonEmpty('--server', values.server));
  if (values.zone !== undefined) filter.set('zone', nonEmpty('--zone', values.zone));
  if (values.connected === true) filter.set('connected', 'true');
  if (values.disconnected === true) filter.set('connected', 'false');
  const limit = values.limit === undefined ? undefined : parseInteger('--limit', values.limit, 1, MAX_PAGE);
  const after = values.after === undefined ? undefined : parseInteger('--after', values.after, 0, Number.MAX_SAFE_INTEGER);
  const pageSize = values['page-size'] === undefined ? DEFAULT_PAGE_SIZE : parseInteger('--page-size', values['page-size'], 1, MAX_PAGE);
  const client = AdminClient.fromFlags(values, io);
  return reportClientError(io, 'agentlb hosts', async () => {
    if (id === undefined) {
      const { hosts, scope } = await fetchHosts(client, filter, limit, after, pageSize);
      if (values.json === true) io.out(`${JSON.stringify(hosts, null, 2)}\n`);
      else printHosts(io, hosts);
      if (scope === 'this-server') {
        io.err('agentlb hosts: the database is unavailable: only the connections of the server asked are known; other hosts show as not connected\n');
      }
      const last = hosts[hosts.length - 1];
      if (limit !== undefined && hosts.length === limit && last !== undefined && values.json !== true) {
        io.err(`agentlb hosts: more hosts may follow: --after ${last.id}\n`);
      }
      return EXIT_OK;
    }
    const result = (await client.request('DELETE', `/api/hosts/${id}${values.force === true ? '?force=true' : ''}`).catch((error: unknown) => {
      throw inCliTerms(error, id);
    })) as RemovedHost;
    if (values.json === true) io.out(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const count =
        result.scope === 'server'
          ? `${result.agentsUpdated} agent(s) of the server asked sent a new list (each other server re-sends to its own agents)`
          : `${result.agentsUpdated} agent(s) sent a new list`;
      io.out(`removed host ${result.removed.id} (${printable(result.removed.guid)}); ${count}\n`);
    }
    return EXIT_OK;
  });
}

/**
 * One page (`limit`), or every host in pages of `pageSize`, each request continuing after the
 * last id of the one before, so a large fleet is never asked for in one answer.
 */
async function fetchHosts(
  client: AdminClient,
  filter: URLSearchParams,
  limit: number | undefined,
  after: number | undefined,
  pageSize: number,
): Promise<{ hosts: HostView[]; scope: string }> {
  const hosts: HostView[] = [];
  let scope = 'fleet';
  let cursor = after;
  for (;;) {
    const query = new URLSearchParams(filter);
    query.set('limit', String(limit ?? pageSize));
    if (cursor !== undefined) query.set('after', String(cursor));
    const answer = await client.exchange('GET', `/api/hosts?${query.toString()}`);
    const page = answer.body as HostView[];
    if (answer.headers[HOST_VIEW_HEADER] === 'this-server') scope = 'this-server';
    hosts.push(...page);
    if (limit !== undefined || page.length < pageSize || page.length === 0) return { hosts, scope };
    cursor = page[page.length - 1]!.id;
  }
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
