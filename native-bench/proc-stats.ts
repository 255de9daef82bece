/**
 * What the bench reads about a server process from outside it, through /proc (Linux): resident
 * memory and CPU time. Reading from outside keeps agentlb and the raw baseline measured the
 * same way, with nothing added to either process.
 */
import { readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ; 100 on Linux). */
const USER_HZ = 100;

export interface ProcSample {
  /** Resident set size, bytes. */
  rssBytes: number;
  /** User + system CPU time consumed so far, milliseconds. */
  cpuMs: number;
}

export async function sampleProcess(pid: number): Promise<ProcSample> {
  const [status, stat] = await Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
  ]);
  const rss = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (rss === null) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  // The command name (field 2) may hold spaces; fields after its closing ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { rssBytes: Number(rss[1]) * 1024, cpuMs: ((utime + stime) * 1000) / USER_HZ };
}
