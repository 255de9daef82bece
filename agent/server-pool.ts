/**
 * The agent's ordered server list and where it stands in it: pure policy, no sockets
 * (modelled on nats.js `servers.ts`). The first entry is the preferred server; a round tries
 * every entry in list order, so an agent always lands on the earliest server that answers.
 */
import { hostEntryKey, HostListError, parseHostEntries, parseHostEntry, type HostEntry } from '../src/protocol/host-list';

export interface ServerEntry {
  /** The entry exactly as written in the list (e.g. `m1.example:8250` or `[::1]:9000`). */
  readonly text: string;
  readonly host: string;
  readonly port: number;
  /** hostEntryKey: two entries with the same key are the same server. */
  readonly key: string;
}

function serverEntry(text: string, parsed: HostEntry): ServerEntry {
  return { text, host: parsed.host, port: parsed.port, key: hostEntryKey(parsed) };
}

export function toServerEntry(text: string, defaultPort: number): ServerEntry | HostListError {
  const parsed = parseHostEntry(text, defaultPort);
  return parsed instanceof HostListError ? parsed : serverEntry(text, parsed);
}

export class ServerPool {
  private list: ServerEntry[] = [];
  private currentEntry: ServerEntry | undefined;

  private constructor(private readonly defaultPort: number) {}

  /** A pool over `hosts`, or the error naming the first bad entry. */
  static from(hosts: readonly string[], defaultPort: number): ServerPool | HostListError {
    const pool = new ServerPool(defaultPort);
    const error = pool.replace(hosts);
    return error ?? pool;
  }

  get entries(): readonly ServerEntry[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /** The first entry: where the agent wants to be. */
  get preferred(): ServerEntry | undefined {
    return this.list[0];
  }

  /** The server the agent is connected to, if any. */
  get current(): ServerEntry | undefined {
    return this.currentEntry;
  }

  /** The list as plain strings, as sent in `hello` and persisted in `host`. */
  texts(): string[] {
    return this.list.map((entry) => entry.text);
  }

  isPreferred(entry: ServerEntry | undefined): boolean {
    return entry !== undefined && this.preferred !== undefined && entry.key === this.preferred.key;
  }

  /** True while connected to a server that is not the first entry (the preferred check runs). */
  awayFromPreferred(): boolean {
    return this.currentEntry !== undefined && !this.isPreferred(this.currentEntry);
  }

  /** Record the server that welcomed the agent (undefined once disconnected). */
  setCurrent(entry: ServerEntry | undefined): void {
    this.currentEntry = entry;
  }

  /**
   * The order for one connection round: list order, except that `lastResort` (a server that
   * just told the agent it is going away) is tried after every other entry instead of first.
   */
  roundOrder(lastResort?: ServerEntry): ServerEntry[] {
    if (lastResort === undefined) return [...this.list];
    const others = this.list.filter((entry) => entry.key !== lastResort.key);
    const demoted = this.list.filter((entry) => entry.key === lastResort.key);
    return [...others, ...demoted];
  }

  /**
   * Replace the list (from a `hosts` frame or the properties file). All-or-nothing: on a bad
   * entry the pool keeps its last good list and the error names the entry, so a pool can never
   * hold an empty or unusable list.
   */
  replace(hosts: readonly string[]): HostListError | undefined {
    // The codec's own list check (empty, duplicates, too many), so the agent refuses exactly
    // what the server's `host` setting refuses, with the same messages.
    const parsed = parseHostEntries(hosts, this.defaultPort);
    if (parsed instanceof HostListError) return parsed;
    this.list = parsed.map((entry, i) => serverEntry(hosts[i]!.trim(), entry));
    return undefined;
  }
}
