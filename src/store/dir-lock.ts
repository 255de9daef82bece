/**
 * One server process per data directory. Two servers sharing a directory would interleave
 * journal appends and settings writes and hand out the same host ids, so the second one must
 * refuse to start, naming the holder.
 *
 * The lock is a file created with O_EXCL holding the owner's pid. A `kill -9` leaves it behind,
 * so a lock whose pid no longer runs on this machine is stale and taken over: a crashed server
 * must restart without an operator deleting files.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { readFile, unlink, writeFile } from 'node:fs/promises';

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
    // Two attempts: the second follows the removal of a stale lock. If another process takes
    // the lock between our removal and our retry, the retry sees it live and refuses.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(this.lockPath, JSON.stringify(content) + '\n', { flag: 'wx', mode: 0o600 });
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

/** The lock's content, or undefined when unreadable (a crash between create and write). */
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
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists but belongs to another user: still live.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
