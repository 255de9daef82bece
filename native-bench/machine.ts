/**
 * The machine a run was made on, as BENCHMARKS.md states it: figures mean little without it.
 */
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
