/**
 * The single-executable agent (npm run build:agent, dist/agentlb-agent) for the tests that run
 * it: built once, and again only when a source is newer than the binary (building takes
 * seconds on a quiet machine, a minute or two at load 40).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DataDirLock, DataDirLockedError } from '../../src/store/dir-lock';

export const ROOT = resolve(__dirname, '..', '..');
export const BINARY = join(ROOT, 'dist', 'agentlb-agent');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) {
      newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
    }
  }
  return newest;
}

/**
 * Build the binary unless one newer than every source file is already there. Test files run in
 * parallel and two builds would share their work directory, so one builds while the other
 * waits for the lock (a process's lock, not an event: polled) and then finds it fresh.
 */
export async function ensureBinary(): Promise<void> {
  const lockDir = join(ROOT, 'dist', 'agent-sea');
  await mkdir(lockDir, { recursive: true });
  let lock: DataDirLock | undefined;
  while (lock === undefined) {
    lock = await DataDirLock.acquire(lockDir).catch((error: unknown) => {
      if (error instanceof DataDirLockedError) return undefined;
      throw error;
    });
    if (lock === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    await buildIfStale();
  } finally {
    await lock.release();
  }
}

async function buildIfStale(): Promise<void> {
  const built = await stat(BINARY).then((s) => s.mtimeMs, () => 0);
  const sources = Math.max(
    await newestSource(join(ROOT, 'agent')),
    await newestSource(join(ROOT, 'src')),
    (await stat(join(ROOT, 'scripts', 'build-agent.js'))).mtimeMs,
    (await stat(join(ROOT, 'scripts', 'node-runtime.json'))).mtimeMs,
  );
  if (built > sources) return;
  await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build-agent.js')], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
}
