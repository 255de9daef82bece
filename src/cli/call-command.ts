/**
 * `agentlb call ID METHOD [JSON]` and the fan-out `agentlb call (--zone Z | --all | --hosts
 * 1,2,3) METHOD [JSON]` (README "Calls"): through the admin API of any server. A single call
 * prints the value as JSON; a fan-out shows a progress bar on a terminal while the lines
 * stream in, then one row per host and the totals; --json prints the API's JSON (NDJSON for a
 * fan-out, each line as it arrives).
 */
import { CALL_STATUSES, DEFAULT_CALL_TIMEOUT_S, DEFAULT_FANOUT_CONCURRENCY, MAX_CALL_TIMEOUT_S, MAX_FANOUT_CONCURRENCY, type CallLine, type CallSummary } from '../api/calls';
import { AdminClient, AdminClientError, CLIENT_FLAGS } from './admin-client';
import { EXIT_FAILURE, EXIT_OK, nonEmpty, parseFlags, parseInteger, UsageError, withUsage, type CliIo, type Command } from './args';
import { reportClientError } from './report';
import { formatTable } from './table';

export const CALL_USAGE = `Usage: agentlb call ID METHOD [JSON] [options]
       agentlb call (--zone Z | --all | --hosts ID,ID,...) METHOD [JSON] [--concurrency N] [options]

Runs METHOD on one agent, or on many, whichever server of the fleet each agent is connected
to. JSON is the method's params (any JSON value). Built-in methods: agentlb.ping (answers
"pong") and agentlb.info; any other method M runs the executable handlers.dir/M on the agent.
A single call prints the value as JSON. A fan-out shows its progress on a terminal, then one
row per host (ID, GUID, SERVER, STATUS, RESULT) and the totals by status.

Options:
  --zone Z            every host of zone Z
  --all               every host of the fleet
  --hosts LIST        these host ids (comma-separated)
  --concurrency N     hosts called at once by a fan-out, 1..${MAX_FANOUT_CONCURRENCY} (default ${DEFAULT_FANOUT_CONCURRENCY})
  --timeout SECONDS   the time each agent has to answer (default ${DEFAULT_CALL_TIMEOUT_S}, at most ${MAX_CALL_TIMEOUT_S})
  --json              print the API's JSON: one object, or NDJSON lines as they arrive
  --admin HOST:PORT, --token TOKEN, --data-dir DIR: as for the other client commands
  -h, --help          print this help and exit
Exit status: 0 when every call succeeded, 1 when one failed (or the server refused or could
not be reached), 2 for a bad command line.
`;

const FLAGS = {
  ...CLIENT_FLAGS,
  zone: { type: 'string' },
  all: { type: 'boolean' },
  hosts: { type: 'string' },
  concurrency: { type: 'string' },
} as const;

const BAR_WIDTH = 30;
/** Characters of a value or error shown in a fan-out's RESULT column. */
const RESULT_WIDTH = 60;

function parseParams(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`params must be JSON: ${(error as Error).message} in ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)}`);
  }
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CALL_TIMEOUT_S;
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_CALL_TIMEOUT_S) {
    throw new UsageError(`--timeout must be seconds in (0, ${MAX_CALL_TIMEOUT_S}], got ${JSON.stringify(text)}`);
  }
  return seconds;
}

function parseHostList(text: string): number[] {
  const ids = text.split(',').map((part) => parseInteger('--hosts', part.trim(), 0, Number.MAX_SAFE_INTEGER));
  if (ids.length === 0) throw new UsageError('--hosts needs at least one host id');
  return ids;
}

/** What a line's RESULT column shows: the value as JSON, or `code: message`. */
function resultText(line: CallLine): string {
  const text = line.ok ? JSON.stringify(line.value ?? null) : `${line.error?.code ?? line.status}: ${line.error?.message ?? ''}`;
  return text.length > RESULT_WIDTH ? `${text.slice(0, RESULT_WIDTH - 3)}...` : text;
}

/** `[#####.....] 120/300: 118 ok, 2 failed`, drawn over itself. */
export function callProgress(done: number, total: number | undefined, ok: number): string {
  const failed = done - ok;
  if (total === undefined) return `${done} done: ${ok} ok, ${failed} failed`;
  const filled = total === 0 ? BAR_WIDTH : Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH));
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total}: ${ok} ok, ${failed} failed`;
}

/** The totals line: `300 hosts in 1234 ms: 290 ok, 4 timeout, ...` (zero counts left out). */
export function summaryText(summary: CallSummary): string {
  const counts = CALL_STATUSES.filter((status) => summary[status] > 0).map((status) => `${summary[status]} ${status}`);
  return `${summary.total} host(s) in ${summary.ms} ms: ${counts.length === 0 ? 'none' : counts.join(', ')}\n`;
}

async function runCall(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help === true) {
    io.out(CALL_USAGE);
    return EXIT_OK;
  }
  const targets = (['zone', 'all', 'hosts'] as const).filter((flag) => values[flag] !== undefined);
  if (targets.length > 1) throw new UsageError(`--zone, --all and --hosts exclude each other (got ${targets.map((flag) => `--${flag}`).join(', ')})`);
  const fanout = targets.length === 1;
  const [first, second, third, extra] = positionals;
  const [idText, method, paramsText] = fanout ? [undefined, first, second] : [first, second, third];
  if (fanout && third !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(third)}`);
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
  if (!fanout && idText === undefined) throw new UsageError('name a host ID, or --zone, --all or --hosts');
  if (method === undefined) throw new UsageError('METHOD is missing');
  if (!fanout && values.concurrency !== undefined) throw new UsageError('--concurrency only applies to a fan-out (--zone, --all or --hosts)');
  const timeout = parseTimeout(values.timeout);
  const body: Record<string, unknown> = { method, timeout };
  const params = parseParams(paramsText);
  if (params !== undefined) body.params = params;
  // The API may take the whole call timeout to answer, and a fan-out streams for longer.
  const client = AdminClient.fromFlags({ ...values, timeout: undefined }, io, Math.round(timeout * 1000) + 30_000);
  if (!fanout) {
    const id = parseInteger('host ID', idText!, 0, Number.MAX_SAFE_INTEGER);
    return reportClientError(io, 'agentlb call', () => single(client, id, body, values.json === true, io));
  }
  if (values.zone !== undefined) body.zone = nonEmpty('--zone', values.zone);
  if (values.all === true) body.all = true;
  if (values.hosts !== undefined) body.hosts = parseHostList(values.hosts);
  if (values.concurrency !== undefined) body.concurrency = parseInteger('--concurrency', values.concurrency, 1, MAX_FANOUT_CONCURRENCY);
  const total = Array.isArray(body.hosts) ? body.hosts.length : undefined;
  return reportClientError(io, 'agentlb call', () => many(client, body, total, values.json === true, io));
}

async function single(client: AdminClient, id: number, body: Record<string, unknown>, json: boolean, io: CliIo): Promise<number> {
  let line: CallLine;
  try {
    line = (await client.request('POST', `/api/hosts/${id}/call`, body)) as CallLine;
  } catch (error) {
    // A call that reached the agent but did not end well (504, 502) still has its line.
    if (!(error instanceof AdminClientError) || typeof error.body !== 'object' || error.body === null || !('status' in error.body)) throw error;
    if (json) io.out(`${JSON.stringify(error.body, null, 2)}\n`);
    else io.err(`agentlb call: ${String((error.body as unknown as { error: unknown }).error)}\n`);
    return EXIT_FAILURE;
  }
  if (json) io.out(`${JSON.stringify(line, null, 2)}\n`);
  else if (line.ok) io.out(`${JSON.stringify(line.value ?? null, null, 2)}\n`);
  else io.err(`agentlb call: host ${id} (${line.guid}): ${line.error?.code}: ${line.error?.message}${line.error?.exitCode === undefined ? '' : ` (exit status ${line.error.exitCode})`}\n`);
  return line.ok ? EXIT_OK : EXIT_FAILURE;
}

async function many(client: AdminClient, body: Record<string, unknown>, total: number | undefined, json: boolean, io: CliIo): Promise<number> {
  const rows: string[][] = [];
  let summary: CallSummary | undefined;
  let done = 0;
  let ok = 0;
  const progress = io.isTty === true && !json;
  await client.lines('/api/calls', body, (parsed) => {
    if (json) io.out(`${JSON.stringify(parsed)}\n`);
    if ((parsed as CallSummary).done === true) {
      summary = parsed as CallSummary;
      return;
    }
    const line = parsed as CallLine;
    done++;
    if (line.ok) ok++;
    if (!json) rows.push([String(line.hostId), line.guid, line.server ?? '-', line.status, resultText(line)]);
    if (progress) io.err(`\r${callProgress(done, total, ok)}`);
  });
  if (progress) io.err('\n');
  if (summary === undefined) {
    io.err('agentlb call: the fan-out ended before its summary line (the server stopped?)\n');
    return EXIT_FAILURE;
  }
  if (!json) {
    rows.sort((a, b) => Number(a[0]) - Number(b[0]));
    if (rows.length > 0) io.out(formatTable([['ID', 'GUID', 'SERVER', 'STATUS', 'RESULT'], ...rows]));
    io.out(summaryText(summary));
  }
  return summary.ok === summary.total ? EXIT_OK : EXIT_FAILURE;
}

export const callCommand: Command = {
  name: 'call',
  summary: 'run a method on one agent or on many (call ID METHOD [JSON], call --all METHOD)',
  run: (argv, io) => withUsage(io, 'agentlb call', () => runCall(argv, io)),
};
