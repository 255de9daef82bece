/**
 * agentlb's version, as package.json says it: for `--version`, the `started` log lines,
 * /healthz and the `agentlb_build_info` metric. The agent's single executable has no
 * package.json beside it, so its build (scripts/build-agent.js) writes the version in as the
 * constant AGENTLB_VERSION; everywhere else the package.json above this file is read once.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

declare const AGENTLB_VERSION: string | undefined;

let cached: string | undefined;

/** The first package.json named agentlb above `dir` (src/util/ in a checkout, dist/src/util/ when built). */
function versionFromPackageJson(dir: string): string {
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      const parsed = JSON.parse(readFileSync(path.join(current, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'agentlb' && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // no (readable) package.json here: look further up
    }
    if (path.dirname(current) === current) return 'unknown';
  }
}

export function agentlbVersion(): string {
  cached ??= typeof AGENTLB_VERSION === 'string' ? AGENTLB_VERSION : versionFromPackageJson(__dirname);
  return cached;
}

/** What `--version` prints: the program, its version and the runtime it runs on. */
export function versionLine(program: string): string {
  return `${program} ${agentlbVersion()} (Node.js ${process.version}, ${process.platform}-${process.arch})\n`;
}
