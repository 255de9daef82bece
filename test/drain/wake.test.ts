/**
 * The drain controller on its narrow seams (drain/controller.ts): an agent that connects while
 * this server drains (a handshake that was in flight when the drain began) is handed over once
 * the agent registry reports it attached — a call from the registry, not a ServerEvents
 * subscription. Real AgentRegistry, real LocalDrainBoard; the agents are the HandoverAgent
 * values the controller sees, recording what they are told.
 */
import t from 'tap';
import type { ErrorCode } from '../../src/protocol/messages';
import { DrainController, type HandoverAgent } from '../../src/server/drain/controller';
import { LocalDrainBoard } from '../../src/server/drain/board';
import { ServerEvents } from '../../src/server/events';

interface Told {
  hosts: (readonly string[])[];
  failed: string[];
}

function agent(connId: number): HandoverAgent & Told {
  const told: Told = { hosts: [], failed: [] };
  return {
    ...told,
    connId,
    hostId: connId,
    guid: `g${connId}`,
    get isOpen() {
      return told.failed.length === 0;
    },
    listState: { hostId: connId, zone: 'z', algorithm: 'static', hosts: ['M1', 'M2'], checkInterval: 0 },
    sendHosts: (hosts) => void told.hosts.push(hosts),
    fail: (code: ErrorCode) => void told.failed.push(code),
  };
}

/** The registry as the controller sees it: the connected agents, and the attach hook. */
class Agents {
  readonly list: HandoverAgent[] = [];
  private readonly hooks = new Set<() => void>();
  get size(): number {
    return this.list.length;
  }
  all(): Iterable<HandoverAgent> {
    return this.list;
  }
  onAttached(hook: () => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }
  attach(one: HandoverAgent): void {
    this.list.push(one);
    for (const hook of this.hooks) hook();
  }
  get hookCount(): number {
    return this.hooks.size;
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

t.test('an agent attached during a drain is handed over; after close() the hook is gone', async (t) => {
  const agents = new Agents();
  const drain = new DrainController({
    board: new LocalDrainBoard((error) => t.fail(String(error))),
    avoid: { setAvoided: () => Promise.resolve(0) },
    agents,
    gate: { refuseNew: () => undefined },
    events: new ServerEvents(),
    selfAddress: () => 'M1',
    hostEntries: () => ['M1', 'M2'],
    handoverList: () => ['M2', 'M1'],
    defaultRate: 100_000,
  });
  t.equal(agents.hookCount, 1, 'the controller hooked the registry');
  const outcome = await drain.drain({});
  t.match(outcome, { address: 'M1', self: true });
  await settle();
  const late = agent(7);
  agents.attach(late);
  // Handed over on a timer of 0 after the hook: wait for it, with a deadline.
  const deadline = Date.now() + 10_000;
  while (late.failed.length === 0 && Date.now() < deadline) await settle();
  t.same(late.failed, ['draining'], 'the late agent is told the server drains');
  drain.close();
  t.equal(agents.hookCount, 0, 'close() unhooks');
});
