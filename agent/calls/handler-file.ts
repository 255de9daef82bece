/**
 * Whether a handler file may run (what sudo and cron check before they run a file): it must be
 * a regular file (a symlink, directory or device is not), writable by its owner only (not by
 * group or others), and owned by root or by the user the agent runs as. Anything else could be
 * swapped by another local user, who would then run code as the agent.
 */
import { constants } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';

export type HandlerCheck = { ok: true; file: string } | { ok: false; code: 'unknown_method' | 'handler_refused'; message: string };

/** The agent's own user id (undefined where the platform has none). */
const AGENT_UID = process.getuid?.();

/** Checks `DIR/method`; `method` was validated by the protocol (no `/`, no leading `.`). */
export async function checkHandler(dir: string, method: string): Promise<HandlerCheck> {
  const file = path.join(dir, method);
  let stat;
  try {
    stat = await lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, code: 'unknown_method', message: `no handler ${method} in ${dir}` };
    return { ok: false, code: 'handler_refused', message: `cannot inspect ${file}: ${(error as Error).message}` };
  }
  const refuse = (why: string): HandlerCheck => ({ ok: false, code: 'handler_refused', message: `${file} ${why}` });
  if (!stat.isFile()) return refuse(stat.isSymbolicLink() ? 'is a symbolic link, not a regular file' : 'is not a regular file');
  if ((stat.mode & (constants.S_IWGRP | constants.S_IWOTH)) !== 0) {
    return refuse(`is writable by ${(stat.mode & constants.S_IWOTH) !== 0 ? 'everyone' : 'its group'} (mode ${(stat.mode & 0o7777).toString(8)}); chmod go-w it`);
  }
  if (AGENT_UID !== undefined && stat.uid !== 0 && stat.uid !== AGENT_UID) {
    return refuse(`is owned by uid ${stat.uid}, neither root nor the agent's user (uid ${AGENT_UID})`);
  }
  if ((stat.mode & constants.S_IXUSR) === 0) return refuse('is not executable by its owner (chmod u+x)');
  return { ok: true, file };
}
