/**
 * The embedded store's host registry on disk: a snapshot (`hosts.json`, replaced atomically)
 * plus an append-only journal (`hosts.log`) of the changes made since.
 *
 * Why a journal rather than a snapshot per commit: a storm of 15 000 new agents rewriting a
 * whole-registry snapshot on every group commit writes O(n²) bytes; appending each commit's
 * changes writes O(n), and compacting only when the journal has grown as large as the
 * snapshot keeps the total O(n) too.
 *
 * Format: one JSON line per group commit, `{"ops":[{"op":"add","host":{...}},{"op":"remove","id":7}]}`.
 * One line per commit (not per change) makes a commit all-or-nothing on disk: a crash before
 * the commit's fdatasync completes can only damage the LAST line, and the trailing newline is
 * the commit mark. So on load the last line, if unterminated or unreadable, is a torn append
 * that was never acknowledged: it is dropped and truncated away. A bad line anywhere before it
 * is committed data gone bad: loading refuses, naming the file and line, rather than silently
 * forgetting hosts.
 *
 * Replaying the journal over a snapshot is idempotent (the last op on an id decides), so a
 * crash between writing a new snapshot and emptying the journal loses and duplicates nothing.
 */
import { open } from 'node:fs/promises';
import type { HostRecord } from './types';
import { readFileIfExists, writeFileAtomic } from '../util/atomic-file';
import { DATA_FILE_MODE } from './data-dir-mode';

export type JournalOp = { op: 'add'; host: HostRecord } | { op: 'remove'; id: number };

/** A data file that cannot be read as committed state; the store refuses to open. */
export class StoreCorruptError extends Error {
  readonly code = 'store_corrupt';
  constructor(message: string) {
    super(message);
    this.name = 'StoreCorruptError';
  }
}

export interface HostRegistryState {
  hosts: Map<number, HostRecord>;
  /** The next id to hand out: above every id ever used, removed ones included. */
  nextId: number;
}

const SNAPSHOT_FORMAT = 1;

export class HostJournal {
  /** Bytes of the journal that hold committed lines; the next line is written here. */
  private committedBytes: number;
  private snapshotBytes: number;
  /** A failed append may have left bytes after `committedBytes`: cut them before the next one. */
  private tailUnclean = false;
  /** Journal and snapshot bytes written since load: what keeps a storm's cost linear. */
  bytesWritten = 0;

  private constructor(
    private readonly journalPath: string,
    private readonly snapshotPath: string,
    private readonly compactAfterBytes: number,
    committedBytes: number,
    snapshotBytes: number,
  ) {
    this.committedBytes = committedBytes;
    this.snapshotBytes = snapshotBytes;
  }

  /** Read the snapshot and replay the journal (creating an empty one if absent). */
  static async load(
    journalPath: string,
    snapshotPath: string,
    compactAfterBytes: number,
  ): Promise<{ journal: HostJournal; state: HostRegistryState }> {
    const snapshotText = (await readFileIfExists(snapshotPath))?.toString('utf8');
    const state = snapshotText === undefined ? { hosts: new Map(), nextId: 1 } : parseSnapshot(snapshotPath, snapshotText);
    let journalBytes = await readFileIfExists(journalPath);
    if (journalBytes === undefined) {
      // Created atomically so that the directory entry is durable before the first append.
      await writeFileAtomic(journalPath, '', { mode: DATA_FILE_MODE });
      journalBytes = Buffer.alloc(0);
    }
    const committedBytes = replayJournal(journalPath, journalBytes, state);
    if (committedBytes < journalBytes.length) await truncateDurably(journalPath, committedBytes);
    checkGuidsUnique(journalPath, state);
    const journal = new HostJournal(journalPath, snapshotPath, compactAfterBytes, committedBytes, Buffer.byteLength(snapshotText ?? ''));
    return { journal, state };
  }

  /** Durably append one commit's ops as one line. */
  async append(ops: readonly JournalOp[]): Promise<void> {
    const line = Buffer.from(JSON.stringify({ ops }) + '\n');
    const handle = await open(this.journalPath, 'r+');
    try {
      if (this.tailUnclean) await handle.truncate(this.committedBytes);
      this.tailUnclean = true;
      let written = 0;
      while (written < line.length) {
        const { bytesWritten } = await handle.write(line, written, line.length - written, this.committedBytes + written);
        written += bytesWritten;
      }
      // fdatasync also makes the new file size durable, which the appended bytes need.
      await handle.datasync();
      this.tailUnclean = false;
      this.committedBytes += line.length;
      this.bytesWritten += line.length;
    } finally {
      await handle.close();
    }
  }

  /** True once the journal is as large as the snapshot (and past the configured floor). */
  needsCompaction(): boolean {
    return this.committedBytes >= Math.max(this.compactAfterBytes, this.snapshotBytes);
  }

  /** Fold the journal into a new snapshot of `state`, then start an empty journal. */
  async compact(state: HostRegistryState): Promise<void> {
    const hosts = [...state.hosts.values()].sort((a, b) => a.id - b.id);
    const text = JSON.stringify({ format: SNAPSHOT_FORMAT, nextId: state.nextId, hosts }) + '\n';
    await writeFileAtomic(this.snapshotPath, text, { mode: DATA_FILE_MODE });
    this.snapshotBytes = Buffer.byteLength(text);
    this.bytesWritten += this.snapshotBytes;
    await writeFileAtomic(this.journalPath, '', { mode: DATA_FILE_MODE });
    this.committedBytes = 0;
    this.tailUnclean = false;
  }
}

/** Apply one op; also used to replay, so it must stay idempotent. */
export function applyOp(state: HostRegistryState, op: JournalOp): void {
  if (op.op === 'add') {
    state.hosts.set(op.host.id, op.host);
    state.nextId = Math.max(state.nextId, op.host.id + 1);
  } else {
    state.hosts.delete(op.id);
  }
}

async function truncateDurably(file: string, length: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

function parseSnapshot(file: string, text: string): HostRegistryState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StoreCorruptError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed) || parsed['format'] !== SNAPSHOT_FORMAT || !Array.isArray(parsed['hosts'])) {
    throw new StoreCorruptError(`${file}: not a format ${SNAPSHOT_FORMAT} host snapshot`);
  }
  const state: HostRegistryState = { hosts: new Map(), nextId: 1 };
  parsed['hosts'].forEach((value, index) => {
    const host = toHostRecord(value);
    if (!host) throw new StoreCorruptError(`${file}: hosts[${index}] is not a host record`);
    applyOp(state, { op: 'add', host });
  });
  const nextId = parsed['nextId'];
  if (!isId(nextId) || nextId < state.nextId) {
    throw new StoreCorruptError(`${file}: nextId ${JSON.stringify(nextId)} is not above every host id`);
  }
  state.nextId = nextId;
  return state;
}

/** Replay every committed line into `state`; returns the byte length of the committed lines. */
function replayJournal(file: string, bytes: Buffer, state: HostRegistryState): number {
  let start = 0;
  let lineNumber = 0;
  for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
    lineNumber++;
    const ops = parseJournalLine(bytes.subarray(start, end).toString('utf8'));
    if (typeof ops === 'string') {
      const isLastLine = end + 1 === bytes.length;
      if (isLastLine) return start;
      throw new StoreCorruptError(`${file}: line ${lineNumber}: ${ops}; refusing to open (committed data would be lost)`);
    }
    for (const op of ops) applyOp(state, op);
    start = end + 1;
  }
  // Whatever follows the last newline is an append torn by a crash.
  return start;
}

/** The line's ops, or why it is not a journal line. */
function parseJournalLine(line: string): JournalOp[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
  if (!isObject(parsed) || !Array.isArray(parsed['ops'])) return 'not a journal entry';
  const ops: JournalOp[] = [];
  for (const value of parsed['ops']) {
    const op = toJournalOp(value);
    if (!op) return `bad op ${JSON.stringify(value)}`;
    ops.push(op);
  }
  return ops;
}

function toJournalOp(value: unknown): JournalOp | undefined {
  if (!isObject(value)) return undefined;
  if (value['op'] === 'remove' && isId(value['id'])) return { op: 'remove', id: value['id'] };
  const host = value['op'] === 'add' ? toHostRecord(value['host']) : undefined;
  return host && { op: 'add', host };
}

function toHostRecord(value: unknown): HostRecord | undefined {
  if (!isObject(value)) return undefined;
  const { id, guid, zone, registeredAt } = value;
  if (!isId(id) || typeof guid !== 'string' || guid === '' || typeof zone !== 'string' || typeof registeredAt !== 'string') {
    return undefined;
  }
  return Object.freeze({ id, guid, zone, registeredAt });
}

function checkGuidsUnique(file: string, state: HostRegistryState): void {
  const seen = new Map<string, number>();
  for (const host of state.hosts.values()) {
    const other = seen.get(host.guid);
    if (other !== undefined) {
      throw new StoreCorruptError(`${file}: guid ${host.guid} is registered twice (ids ${other} and ${host.id})`);
    }
    seen.set(host.guid, host.id);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
