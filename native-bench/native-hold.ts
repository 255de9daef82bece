/**
 * The native client in hold mode (client.c --mode hold): N agents that stay connected, driven
 * one stdin command at a time, each answered by one JSON line. It does for storm, propagate,
 * idle and calls what the native handshake mode does for handshakes: keep the client's CPU off
 * the two cores the server needs. Its agents speak protocol 2 and answer `agentlb.ping` calls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { encodeMessage } from '../src/protocol/encoder';
import { PROTOCOL_VERSION } from '../src/protocol/messages';
import { buildNativeClient, GUID_DIGITS, helloTemplate, NativeClientError } from './native-client';
import type { HandshakeEnd, Target } from './swarm/ipc';
import type { LatencySummary } from './swarm/latency';

/** The longest a command may take (a full `up` of 15 000 agents takes a few seconds). */
const ANSWER_TIMEOUT_MS = 120_000;

/** The list an agent holds after its first `hosts`, so its reconnect hello is up to date. */
export interface HeldList {
  hosts: string[];
  algorithm: string;
  checkInterval: number;
}

export interface NativeHoldOptions {
  target: Target;
  count: number;
  concurrency: number;
  sources: string[];
  guidPrefix: string;
  timeoutMs: number;
  list: HeldList;
}

export interface HoldStats {
  event: string;
  up: number;
  attempts: number;
  completed: number;
  welcomed: number;
  hostsReceived: number;
  acked: number;
  dropped: number;
  lost: number;
  /** `call` frames received since the mark (each answered at once with one `result`), and of them agentlb.ping. */
  calls: number;
  pingCalls: number;
  results: number;
  cancels: number;
  /** Agents called exactly once since the mark, and more than once. */
  calledOnce: number;
  calledMore: number;
  lastResultNs: string;
  errorKinds: Record<string, number>;
  lastCompletedNs: string;
  lastAckNs: string;
  handshakeMs: LatencySummary;
  hostsSinceMarkMs: LatencySummary;
  cpuMs: { user: number; system: number };
}

/** The hello of an agent that already holds `list`, and where its guid digits are. */
export function rehelloTemplate(guidPrefix: string, list: HeldList): { frame: Buffer; guidOffset: number } {
  const guid = guidPrefix + '0'.repeat(GUID_DIGITS);
  const frame = encodeMessage({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: list.hosts, algorithm: list.algorithm, checkInterval: list.checkInterval });
  return { frame, guidOffset: frame.indexOf(Buffer.from(guid, 'utf8')) + Buffer.byteLength(guidPrefix, 'utf8') };
}

export class NativeHold {
  private readonly replies: ((stats: HoldStats) => void)[] = [];
  private failure: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(opts: NativeHoldOptions): Promise<NativeHold> {
    const binary = await buildNativeClient();
    const hello = helloTemplate(opts.guidPrefix);
    const rehello = rehelloTemplate(opts.guidPrefix, opts.list);
    const child = spawn(
      binary,
      [
        '--mode=hold',
        `--host=${opts.target.host}`,
        `--port=${opts.target.port}`,
        `--count=${opts.count}`,
        `--concurrency=${opts.concurrency}`,
        `--sources=${opts.sources.join(',')}`,
        `--hello-hex=${hello.frame.toString('hex')}`,
        `--guid-offset=${hello.guidOffset}`,
        `--rehello-hex=${rehello.frame.toString('hex')}`,
        `--rehello-guid-offset=${rehello.guidOffset}`,
        `--guid-width=${GUID_DIGITS}`,
        `--timeout-ms=${opts.timeoutMs}`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const hold = new NativeHold(child, exited);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => hold.replies.shift()?.(JSON.parse(line) as HoldStats));
    void exited.then(() => {
      hold.failure = new NativeClientError(`native hold client exited: ${stderr.trim() || `code ${child.exitCode}`}`);
    });
    return hold;
  }

  /** Connects every agent that is down, ending each handshake at `until`; resolves once all are up or lost. */
  up(until: HandshakeEnd): Promise<HoldStats> {
    return this.command(`up ${until}`);
  }

  mark(markNs: bigint): Promise<HoldStats> {
    return this.command(`mark ${markNs}`);
  }

  waitDropped(count: number): Promise<HoldStats> {
    return this.command(`wait-dropped ${count}`);
  }

  waitAcked(count: number): Promise<HoldStats> {
    return this.command(`wait-acked ${count}`);
  }

  stats(): Promise<HoldStats> {
    return this.command('stats');
  }

  async close(): Promise<void> {
    if (this.failure === undefined) await this.command('close').catch(() => undefined);
    this.child.stdin!.end();
    await this.exited;
  }

  /**
   * Sends one command line (see client.c) and waits for its one reply line. A reply that does
   * not come in time means the run is broken: the client is killed, so no later reply can be
   * misattributed.
   */
  command(command: string, timeoutMs = ANSWER_TIMEOUT_MS): Promise<HoldStats> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new NativeClientError(`native hold client: no answer to "${command}" within ${timeoutMs} ms`));
      }, timeoutMs);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(this.failure);
      });
      this.replies.push((stats) => {
        clearTimeout(timer);
        if (stats.event === 'error') reject(new NativeClientError(`native hold client refused "${command}"`));
        else resolve(stats);
      });
      this.child.stdin!.write(command + '\n');
    });
  }
}
