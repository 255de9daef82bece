/**
 * Where the compiled entry points live. The bench runs from dist/ (`npm run bench`) and from
 * the TypeScript sources (the smoke test under tap); both spawn the COMPILED processes, found
 * from the repository root.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export function repoRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

export const paths = {
  root: (): string => repoRoot(),
};

export const compiled = {
  cli: (): string => path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js'),
  rawServer: (): string => path.join(repoRoot(), 'dist', 'native-bench', 'raw-server.js'),
  swarmWorker: (): string => path.join(repoRoot(), 'dist', 'native-bench', 'swarm', 'worker.js'),
};
