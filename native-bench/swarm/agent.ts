/**
 * One simulated agent: a real protocol client on src/protocol's FramedSocket, with just the
 * agent behaviour a load test needs — hello with its current list, `ack` every `hosts` after
 * "persisting" it (in memory), answer pings — and none of the real agent's policy (no
 * reconnect loop of its own: the worker decides when agents come back, so a storm is the
 * worst case on purpose). One exception, as the real agent does it: a `hosts` with `recheck`
 * (a rebalance) moves it to its first entry make-before-break: a second connection is
 * welcomed before the first is closed (protocol.md section 5, rule 7).
 */
import net from 'node:net';
import { FramedSocket } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION, type Hello, type ServerMessage } from '../../src/protocol/messages';
import type { HandshakeEnd, Target } from './ipc';
import type { WorkerTally } from './tally';

export interface AttemptOptions {
  target: Target;
  until: HandshakeEnd;
  timeoutMs: number;
  /** Stay connected after the handshake (a held agent) or close at once (a handshake run). */
  keep: boolean;
}

type Phase = 'idle' | 'handshaking' | 'established' | 'closing';

export class SimAgent {
  private hosts: string[] = [];
  private algorithm = '';
  private checkInterval: number | undefined;
  private sock: FramedSocket | undefined;
  private phase: Phase = 'idle';
  /** The server of the current connection. */
  private current: Target | undefined;
  private switching = false;

  constructor(
    readonly guid: string,
    private readonly zone: string,
    private readonly source: string,
    private readonly tally: WorkerTally,
  ) {}

  get isEstablished(): boolean {
    return this.phase === 'established';
  }

  /** Entries of the list it holds (`host:port`, `[v6]:port`); empty before its first `hosts`. */
  get entries(): number {
    return this.hosts.length;
  }

  /** Entry `index` of its list (wrapping) as a target, or undefined without a usable list. */
  entry(index: number): Target | undefined {
    const text = this.hosts[index % Math.max(1, this.hosts.length)];
    const match = text === undefined ? null : /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
    return match === null ? undefined : { host: match[1] ?? match[2]!, port: Number(match[3]) };
  }

  /** One connection attempt; resolves true once the `until` frame arrived, false on failure. */
  attempt(opts: AttemptOptions): Promise<boolean> {
    this.phase = 'handshaking';
    this.tally.attempt();
    const started = process.hrtime.bigint();
    const socket = net.connect({ host: opts.target.host, port: opts.target.port, localAddress: this.source });
    socket.setNoDelay(true);
    const sock = new FramedSocket(socket);
    this.sock = sock;
    this.current = opts.target;
    return new Promise((resolve) => {
      let settled = false;
      let welcomed = false;
      const finish = (ok: boolean, failure?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!ok) {
          this.tally.failure(failure ?? 'closed');
          this.phase = 'idle';
          sock.destroy();
        } else {
          this.tally.completed(started);
          if (opts.keep) this.phase = 'established';
          else {
            this.phase = 'closing';
            sock.end();
          }
        }
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false, 'timeout'), opts.timeoutMs);
      socket.once('connect', () => sock.send(this.hello()));
      sock.on('message', (message) => {
        this.onMessage(sock, message);
        if (message.type === 'welcome') welcomed = true;
        if (message.type === 'error') finish(false, `error:${message.code}`);
        else if (welcomed && message.type === opts.until) finish(true);
      });
      sock.on('protocolError', (error) => finish(false, `protocol:${error.code}`));
      sock.on('close', (error) => {
        if (!settled) {
          const code = (error as NodeJS.ErrnoException | undefined)?.code;
          finish(false, code === 'ECONNREFUSED' || code === 'EADDRNOTAVAIL' ? 'connect' : 'closed');
          return;
        }
        // Closed by a switch: the agent is on its new connection already.
        if (this.sock !== sock) return;
        if (this.phase === 'established') this.tally.dropped();
        if (this.sock === sock) this.phase = 'idle';
      });
    });
  }

  /** Closes the connection on purpose (not counted as a drop). */
  close(): void {
    if (this.sock === undefined) return;
    this.phase = 'closing';
    this.sock.destroy();
  }

  /** On its first entry already, or a switch under way: nothing. Else a make-before-break switch. */
  private recheck(): void {
    const target = this.entry(0);
    const current = this.current;
    if (target === undefined || this.switching || (current !== undefined && current.host === target.host && current.port === target.port)) return;
    this.switching = true;
    const socket = net.connect({ host: target.host, port: target.port, localAddress: this.source });
    socket.setNoDelay(true);
    const sock = new FramedSocket(socket);
    let welcomed = false;
    const timer = setTimeout(() => sock.destroy(), 15_000);
    socket.once('connect', () => sock.send(this.hello()));
    sock.on('message', (message) => {
      if (welcomed) {
        this.onMessage(sock, message);
        return;
      }
      if (message.type === 'welcome') {
        welcomed = true;
        clearTimeout(timer);
        const old = this.sock;
        this.sock = sock;
        this.current = target;
        this.switching = false;
        old?.destroy(); // after the new connection was welcomed
        this.tally.switched();
      } else if (message.type === 'error') sock.destroy();
    });
    sock.on('protocolError', () => sock.destroy());
    sock.on('close', () => {
      clearTimeout(timer);
      if (!welcomed) {
        this.switching = false; // the check failed: stay where it is
        return;
      }
      if (this.sock === sock && this.phase === 'established') {
        this.tally.dropped();
        this.phase = 'idle';
      }
    });
  }

  private hello(): Hello {
    const hello: Hello = { type: 'hello', version: PROTOCOL_VERSION, guid: this.guid, zone: this.zone, hosts: this.hosts, algorithm: this.algorithm };
    if (this.checkInterval !== undefined) hello.checkInterval = this.checkInterval;
    return hello;
  }

  private onMessage(sock: FramedSocket, message: ServerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.tally.welcomed();
        return;
      case 'hosts':
        // "Persist" then acknowledge with the same seq, as protocol.md asks of an agent.
        this.hosts = [...message.hosts];
        this.algorithm = message.algorithm;
        this.checkInterval = message.checkInterval;
        this.tally.hostsReceived(this.phase === 'established');
        sock.send({ type: 'ack', seq: message.seq, ok: true });
        this.tally.acked();
        if (message.recheck === true && sock === this.sock && this.phase === 'established') this.recheck();
        return;
      case 'ping':
        sock.send({ type: 'pong' });
        return;
      default:
        return;
    }
  }
}
