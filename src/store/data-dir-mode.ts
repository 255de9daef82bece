/**
 * The data directory holds the admin token, the settings and the host inventory: only the
 * server's user may read it. At start the directory is made mode 0700 (created so, or a
 * looser existing one tightened) and every regular file directly in it mode 0600; each change
 * is reported, so an operator learns that something had been readable by others.
 */
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';

export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;

export interface Tightened {
  path: string;
  /** The permission bits found, e.g. 0o755. */
  was: number;
  now: number;
}

/** Creates `dir` (0700) if missing and tightens it and its files; resolves to what was tightened. */
export async function secureDataDir(dir: string): Promise<Tightened[]> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE });
  const tightened: Tightened[] = [];
  const tighten = async (file: string, mode: number, wanted: number): Promise<void> => {
    if ((mode & 0o777 & ~wanted) === 0) return;
    await chmod(file, wanted);
    tightened.push({ path: file, was: mode & 0o7777, now: wanted });
  };
  await tighten(dir, (await lstat(dir)).mode, DATA_DIR_MODE);
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    const stats = await lstat(file).catch(() => undefined); // removed meanwhile: nothing to tighten
    // Symbolic links are not followed: chmod would change whatever they point at.
    if (stats?.isFile() === true) await tighten(file, stats.mode, DATA_FILE_MODE);
  }
  return tightened;
}

/** `0o755` as operators write it: "0755". */
export function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
