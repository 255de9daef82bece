/** The parent side of the probe (probe.ts): forks it, marks windows and reads them. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../paths';
import type { Target } from '../swarm/ipc';
import type { ProbeWindow } from './probe';

export type { ProbeWindow };

export class Probe {
  private readonly waiting: ((window: ProbeWindow) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (window: ProbeWindow) => this.waiting.shift()?.(window));
  }

  /** Forks the compiled probe against `target`; it connects (and reconnects) on its own. */
  static start(target: Target, guid: string): Probe {
    const file = path.join(repoRoot(), 'dist', 'native-bench', 'scale', 'probe.js');
    return new Probe(fork(file, [target.host, String(target.port), guid], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  /** Starts a window; resolves with what the previous one held. */
  mark(): Promise<ProbeWindow> {
    return this.ask('mark');
  }

  /** The window since the last mark. */
  read(): Promise<ProbeWindow> {
    return this.ask('read');
  }

  /** Resolves once the probe is connected (polling its window every 50 ms, up to `ms`). */
  async connected(ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await this.read()).connected) {
      if (Date.now() > deadline) throw new Error(`the probe did not connect within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): void {
    this.child.kill();
  }

  private ask(cmd: 'mark' | 'read'): Promise<ProbeWindow> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send({ cmd });
    });
  }
}
