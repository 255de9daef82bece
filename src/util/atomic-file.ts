/**
 * The one way this project writes a durable file: the agent's agent.properties and the
 * embedded store's files all go through `writeFileAtomic` (plus the small helpers around it:
 * reading a file that may not exist yet, cleaning up after writers killed mid-write).
 *
 * Readers (including a process restarted after `kill -9` or a power cut) see either the old
 * file or the new one, whole: never a mix, never an empty file. CloudStack rewrote
 * agent.properties by truncate-and-write, which a crash turns into an empty or half file.
 *
 * A target that is a symbolic link (config management often links agent.properties to the
 * file it owns) is followed: the file the link points to is replaced, atomically, beside it,
 * and the link stays a link. Replacing the link itself would leave the real file stale.
 */
import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, readdir, readlink, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isProcessRunning } from './process-alive';

export interface WriteFileAtomicOptions {
  /** Permission bits of the new file; by default those of the file being replaced (or 0o666 & ~umask for a new file). */
  mode?: number;
}

export async function writeFileAtomic(
  target: string,
  data: string | Buffer,
  opts: WriteFileAtomicOptions = {},
): Promise<void> {
  target = await followLinks(target);
  const dir = path.dirname(target);
  const temp = tempPathFor(target);
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

/** Links resolved by the kernel's own limit (ELOOP past 40), as open(2) would. */
const MAX_LINKS = 40;

/**
 * The file a write to `target` must replace: `target` itself, or the end of its chain of
 * symbolic links (each relative link resolved against its own directory). A link that points
 * at nothing yet resolves to the path it names, as open(2) with O_CREAT would create it.
 */
export async function followLinks(target: string): Promise<string> {
  let current = target;
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    let isLink: boolean;
    try {
      isLink = (await lstat(current)).isSymbolicLink();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw err;
    }
    if (!isLink) return current;
    current = path.resolve(path.dirname(current), await readlink(current));
  }
  throw Object.assign(new Error(`${target}: more than ${MAX_LINKS} symbolic links`), { code: 'ELOOP' });
}

/**
 * A fresh temp file name beside `target`, in the form removeStaleTempFiles(target) recognises.
 * Same directory: rename(2) and link(2) work only within one file system. pid + random keeps
 * two processes (or two concurrent calls) from ever sharing a temp file.
 */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** The content of `file`, or undefined when it does not exist; any other error rejects. */
export async function readFileIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Remove the temp files that writers of `target` killed mid-write (kill -9, power cut) left
 * behind: those of processes no longer running. Resolves to how many were removed.
 */
export async function removeStaleTempFiles(target: string): Promise<number> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.`;
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (!match || isProcessRunning(Number(match[1]))) continue;
    // Another cleaner may have won the race; count only what this call removed.
    if (await unlink(path.join(dir, name)).then(() => true, () => false)) removed++;
  }
  return removed;
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
