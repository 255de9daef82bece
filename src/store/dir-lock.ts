/**
 * One server process per data directory. Two servers sharing a directory would interleave
 * journal appends and settings writes and hand out the same host ids, so the second one must
 * refuse to start, naming the holder.
 *
 * The lock is a file holding the owner's pid, created only if absent. A `kill -9` leaves it
 * behind, so a lock whose pid no longer runs on this machine is stale and taken over: a crashed
 * server must restart without an operator deleting files.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { removeStaleTempFiles, tempPathFor } from '../util/atomic-file';
import { isProcessRunning } from '../util/process-alive';

export const LOCK_FILE = 'server.lock';

export class DataDirLockedError extends Error {
  readonly code = 'data_dir_locked';
  constructor(
    readonly lockPath: string,
    readonly holderPid: number,
  ) {
    super(
      `data directory is in use by process ${holderPid} (lock file ${lockPath}); ` +
        'run one server per data directory, or remove the file if that process is not an agentlb server',
    );
    this.name = 'DataDirLockedError';
  }
}

interface LockContent {
  pid: number;
  host: string;
  since: string;
}

export class DataDirLock {
  private held = false;

  private constructor(readonly lockPath: string) {}

  /** Takes the lock of `dataDir`, taking over a stale one; rejects with DataDirLockedError. */
  static async acquire(dataDir: string): Promise<DataDirLock> {
    const lock = new DataDirLock(path.join(dataDir, LOCK_FILE));
    await lock.take();
    return lock;
  }

  private async take(): Promise<void> {
    const content: LockContent = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    // Written whole under a temp name, then linked into place: link(2) refuses an existing name
    // as O_EXCL does, but the lock never exists without its content. (Created with O_EXCL and
    // then written, a server starting at the same moment could read it empty, judge it stale,
    // delete it and run on the same directory.)
    await removeStaleTempFiles(this.lockPath);
    const temp = tempPathFor(this.lockPath);
    await writeFile(temp, JSON.stringify(content) + '\n', { flag: 'wx', mode: 0o600 });
    try {
      await this.linkInPlace(temp);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  private async linkInPlace(temp: string): Promise<void> {
    // Two attempts: the second follows the removal of a stale lock. If another process takes
    // the lock between our removal and our retry, the retry sees it live and refuses.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(temp, this.lockPath);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(this.lockPath);
      if (holder !== undefined && isLive(holder)) throw new DataDirLockedError(this.lockPath, holder.pid);
      await unlink(this.lockPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    const holder = await readHolder(this.lockPath);
    throw new DataDirLockedError(this.lockPath, holder?.pid ?? -1);
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await unlink(this.lockPath).catch(() => undefined);
  }
}

/** The lock's content, or undefined when unreadable (damaged, or written by an older version that created it empty first). */
async function readHolder(lockPath: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await readFile(lockPath, 'utf8')) as Partial<LockContent>;
    if (typeof parsed.pid !== 'number' || !Number.isSafeInteger(parsed.pid) || parsed.pid <= 0) return undefined;
    return { pid: parsed.pid, host: String(parsed.host ?? ''), since: String(parsed.since ?? '') };
  } catch {
    return undefined;
  }
}

/**
 * Whether the holder may still run. A lock written on another machine (a shared mount) is
 * never judged stale: its pid means nothing here.
 */
function isLive(holder: LockContent): boolean {
  return holder.host !== hostname() || isProcessRunning(holder.pid);
}
