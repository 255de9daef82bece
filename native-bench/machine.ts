/**
 * The machine a run was made on, as BENCHMARKS.md states it: figures mean little without it.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { MachineInfo } from './results';

/** The 1-minute load average, rounded. */
export function loadNow(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

export function machineInfo(loadAtStart: number, now = new Date()): MachineInfo {
  return {
    loadAverage: { atStart: loadAtStart, atEnd: loadNow() },
    // nproc counts the CPUs this process may run on, which is what the figures depend on.
    nproc: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    date: now.toISOString(),
  };
}

/**
 * The open-files limit (soft, `ulimit -n`) this process and the children it spawns start with,
 * from /proc/self/limits; undefined when it cannot be read (not Linux) or is unlimited.
 */
export function openFilesLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)?.[1];
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
}
