/**
 * A scripted agent over a real socket, speaking the protocol through src/protocol's client
 * helpers. Tests drive it message by message to pin what the server sends and when.
 */
import { connectFramed, nextMessage, type FramedSocket } from '../../src/protocol/framed-socket';
import {
  PROTOCOL_VERSION,
  type AgentMessage,
  type Hello,
  type Hosts,
  type ServerMessage,
  type Welcome,
} from '../../src/protocol/messages';

export const MESSAGE_TIMEOUT_MS = 5_000;

export type HelloFields = Partial<Omit<Hello, 'type'>> & { guid: string };

export class TestAgent {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private constructor(readonly sock: FramedSocket) {
    this.closed = new Promise((resolve) => sock.once('close', () => resolve()));
  }

  /** `localAddress` (e.g. 127.0.0.2) gives the connection a source address of its own. */
  static async connect(port: number, localAddress?: string): Promise<TestAgent> {
    return new TestAgent(await connectFramed({ host: '127.0.0.1', port, timeoutMs: MESSAGE_TIMEOUT_MS, ...(localAddress === undefined ? {} : { localAddress }) }));
  }

  send(message: AgentMessage | Buffer): void {
    this.sock.send(message);
  }

  next(timeoutMs = MESSAGE_TIMEOUT_MS): Promise<ServerMessage> {
    return nextMessage(this.sock, timeoutMs);
  }

  sendHello(fields: HelloFields): void {
    this.send({ type: 'hello', version: PROTOCOL_VERSION, hosts: [], algorithm: '', ...fields });
  }

  /** Sends hello and returns the welcome (fails the test's promise on anything else). */
  async hello(fields: HelloFields): Promise<Welcome> {
    this.sendHello(fields);
    const reply = await this.next();
    if (reply.type !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(reply)}`);
    return reply;
  }

  /**
   * Pings and returns every message the server sent before its pong (its own pings are
   * answered and left out). Proves what did or did not arrive up to now without sleeping.
   */
  async roundTrip(): Promise<ServerMessage[]> {
    this.send({ type: 'ping' });
    const before: ServerMessage[] = [];
    for (;;) {
      const message = await this.next();
      if (message.type === 'pong') return before;
      if (message.type === 'ping') this.send({ type: 'pong' });
      else before.push(message);
    }
  }

  /** Handshake, then what followed up to a ping round trip: the `hosts` frame, if any. */
  async handshake(fields: HelloFields): Promise<{ welcome: Welcome; hosts: Hosts | undefined; others: ServerMessage[] }> {
    const welcome = await this.hello(fields);
    const after = await this.roundTrip();
    const hosts = after.filter((m): m is Hosts => m.type === 'hosts');
    if (hosts.length > 1) throw new Error(`more than one hosts frame after welcome: ${JSON.stringify(hosts)}`);
    return { welcome, hosts: hosts[0], others: after.filter((m) => m.type !== 'hosts') };
  }

  /** Acks a hosts frame as a real agent does after persisting it. */
  ack(hosts: Hosts, ok = true): void {
    this.send({ type: 'ack', seq: hosts.seq, ok });
  }

  close(): Promise<void> {
    this.sock.destroy();
    return this.closed;
  }
}

/** Connects and registers agents one after another (ids are issued in this order). */
export async function connectAgents(port: number, guids: readonly string[], fields: Partial<HelloFields> = {}) {
  const agents: { agent: TestAgent; welcome: Welcome; hosts: Hosts | undefined }[] = [];
  for (const guid of guids) {
    const agent = await TestAgent.connect(port);
    const { welcome, hosts } = await agent.handshake({ ...fields, guid });
    agents.push({ agent, welcome, hosts });
  }
  return agents;
}
