/**
 * The one way this project writes a durable file: the agent's agent.properties and the
 * embedded store's files all go through `writeFileAtomic`.
 *
 * Readers (including a process restarted after `kill -9` or a power cut) see either the old
 * file or the new one, whole: never a mix, never an empty file. CloudStack rewrote
 * agent.properties by truncate-and-write, which a crash turns into an empty or half file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface WriteFileAtomicOptions {
  /** Permission bits of the new file; by default those of the file being replaced (or 0o666 & ~umask for a new file). */
  mode?: number;
}

export async function writeFileAtomic(
  target: string,
  data: string | Buffer,
  opts: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = path.dirname(target);
  // Same directory: rename(2) is atomic only within one file system. pid + random keeps two
  // processes (or two concurrent calls) from ever sharing a temp file.
  const temp = path.join(
    dir,
    `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  let handle: FileHandle | undefined;
  try {
    const mode = opts.mode ?? (await existingMode(target));
    handle = await open(temp, 'wx', mode ?? 0o666);
    await handle.writeFile(data);
    // open()'s mode is filtered by the umask; an explicit or inherited mode must survive it.
    if (mode !== undefined) await handle.chmod(mode);
    // The data must be on disk before the rename makes it visible, or a crash could expose
    // a renamed but empty file.
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, target);
    // The rename lives in the directory; without this a crash could bring back the old file.
    await syncDirectory(dir);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    // After a successful rename the temp name no longer exists; ENOENT here is expected.
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

async function existingMode(target: string): Promise<number | undefined> {
  try {
    return (await stat(target)).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** fsync a directory so that entries created or renamed in it are durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
