/**
 * Bursts: planBurst (the pure planner a worker runs), the Piscina pool, and the fan-out
 * runner that walks a large fleet in slices, planning here or on the pool, with the same
 * frames either way.
 */
import t from 'tap';
import { decodePayload } from '../../src/protocol/message-decoder';
import { BurstPlanError, planBurst, plannableInBurst, type BurstAgent } from '../../src/server/burst/plan';
import { BurstPool } from '../../src/server/burst/pool';
import type { HostsCause } from '../../src/server/events';
import type { AgentListState, FanoutAgent } from '../../src/server/fleet/fanout';
import { FanoutRunner } from '../../src/server/fleet/fanout-runner';
import type { HostsFrame } from '../../src/server/fleet/fanout';
import { Fleet, FleetSettingsError } from '../../src/server/fleet/fleet';
import { type HostRecord } from '../../src/store/types';
import { DEFAULT_SETTINGS, type Settings } from '../../src/settings/types';

/** One pool thread for the whole file: a thread loading the TypeScript worker takes seconds. */
const shared = BurstPool.create({ mode: 'on', threshold: 1, batchSize: 256, threads: 1 })!;
t.teardown(() => shared.close());

const RR: Settings = { ...DEFAULT_SETTINGS, host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0 };

/** The message inside one frame (4-byte length, then msgpack). */
function message(frame: Uint8Array): unknown {
  return decodePayload(Buffer.from(frame).subarray(4));
}

function hostsOf(frame: Uint8Array): string[] {
  return (message(frame) as { hosts: string[] }).hosts;
}

function agent(position: number, hold: Partial<BurstAgent> = {}): BurstAgent {
  return { position, algorithm: '', hosts: [], checkInterval: undefined, ...hold };
}

t.test('planBurst: roundrobin rotations, one frame per distinct list', async (t) => {
  const result = planBurst({
    servers: ['M1', 'M2', 'M3'],
    algorithm: 'roundrobin',
    seq: 7,
    checkInterval: 30,
    agents: [
      agent(0),
      agent(1),
      agent(2),
      agent(3),
      // Up to date: same algorithm, same list in order, same interval.
      agent(4, { algorithm: 'roundrobin', hosts: ['M2', 'M3', 'M1'], checkInterval: 30 }),
      // Same list, other interval: sent again.
      agent(1, { algorithm: 'roundrobin', hosts: ['M2', 'M3', 'M1'], checkInterval: 0 }),
    ],
  });
  t.same([...result.choice], [0, 1, 2, 0, -1, 1]);
  t.same(result.lists, [['M1', 'M2', 'M3'], ['M2', 'M3', 'M1'], ['M3', 'M1', 'M2']]);
  const frame = (i: number) => result.frames.subarray(result.offsets[i], result.offsets[i + 1]);
  t.same(message(frame(1)), { type: 'hosts', seq: 7, hosts: ['M2', 'M3', 'M1'], algorithm: 'roundrobin', checkInterval: 30 });
});

t.test('planBurst: shuffle gives each agent its own permutation; a permutation it holds is up to date', async (t) => {
  const servers = ['A', 'B', 'C', 'D'];
  const result = planBurst({
    servers,
    algorithm: 'shuffle',
    seq: 1,
    checkInterval: 0,
    agents: [agent(0), agent(1), agent(2, { algorithm: 'shuffle', hosts: ['D', 'C', 'B', 'A'], checkInterval: 0 })],
  });
  t.equal(result.choice[2], -1);
  t.equal(result.lists.length, 2);
  for (const list of result.lists) t.same([...list].sort(), servers);
});

t.test('planBurst refuses an algorithm that needs the whole host set', async (t) => {
  t.equal(plannableInBurst('balanced'), false);
  t.equal(plannableInBurst('roundrobin'), true);
  t.equal(plannableInBurst('nope'), false);
  t.throws(
    () => planBurst({ servers: ['A'], algorithm: 'balanced', seq: 1, checkInterval: 0, agents: [] }),
    new BurstPlanError('algorithm "balanced" cannot be planned from positions'),
  );
});

t.test('BurstPool: modes, thresholds, and a batch planned on a real thread', async (t) => {
  t.equal(BurstPool.create({ mode: 'off', threshold: 10, batchSize: 4 }), undefined);
  const auto = BurstPool.create({ mode: 'auto', threshold: 10, batchSize: 4 })!;
  t.equal(auto.engages(9), false);
  t.equal(auto.engages(10), true);
  t.same(auto.stats(), { threads: 0, utilization: 0, queueSize: 0, completed: 0 }, 'no thread before the first burst');
  const on = BurstPool.create({ mode: 'on', threshold: 10, batchSize: 4, threads: 1 })!;
  t.equal(on.engages(3), false);
  t.equal(on.engages(4), true);
  const task = { servers: ['M1', 'M2'], algorithm: 'roundrobin', seq: 2, checkInterval: 0, agents: [agent(0), agent(1), agent(2)] };
  const completed = shared.stats().completed;
  const remote = await shared.run(task);
  const local = planBurst(task);
  t.same([...remote.choice], [...local.choice]);
  t.same(Buffer.from(remote.frames), Buffer.from(local.frames), 'byte-identical frames');
  t.equal(shared.stats().threads, 1);
  t.equal(shared.stats().completed, completed + 1);
});

/** A fake agent that records what it was sent and updates its state as a connection does. */
class FakeAgent implements FanoutAgent {
  readonly sent: HostsFrame[] = [];
  constructor(public listState: AgentListState | undefined) {}
  sendHostsFrame(frame: HostsFrame, _cause: HostsCause): void {
    this.sent.push(frame);
    this.listState = { ...this.listState!, hosts: frame.hosts, algorithm: frame.algorithm, checkInterval: frame.checkInterval };
  }
}

function hostRecord(id: number): HostRecord {
  return { id, guid: `g${id}`, zone: 'default', registeredAt: '2026-01-01T00:00:00.000Z' };
}

function fleetOf(count: number, settings: Settings = RR): { fleet: Fleet; agents: FakeAgent[] } {
  const hosts = Array.from({ length: count }, (_, i) => hostRecord(i + 1));
  const fleet = Fleet.fromSnapshot({ settings, settingsVersion: 1, hosts });
  if (fleet instanceof FleetSettingsError) throw fleet;
  const agents = hosts.map((h) => new FakeAgent({ hostId: h.id, zone: 'default', algorithm: '', hosts: [], checkInterval: 0 }));
  return { fleet, agents };
}

t.test('FanoutRunner: a fleet of one slice is updated before run() returns', async (t) => {
  const { fleet, agents } = fleetOf(10);
  const runner = new FanoutRunner(fleet, { sliceSize: 16, pool: undefined });
  const done = runner.run(agents, 'settings');
  t.ok(agents.every((a) => a.sent.length === 1), 'sent synchronously');
  t.equal(await done, 10);
});

t.test('FanoutRunner: a slice that used its time budget gives the loop back mid-slice, and still sends everyone once', async (t) => {
  const { fleet, agents } = fleetOf(1_024);
  // Each write costs 0.5 ms here (a slow socket on a busy machine): the second slice of 512
  // must yield after its budget (SLICE_BUDGET_MS), not only at its end.
  for (const a of agents) {
    const send = a.sendHostsFrame.bind(a);
    a.sendHostsFrame = (frame, cause) => {
      const until = performance.now() + 0.5;
      while (performance.now() < until);
      send(frame, cause);
    };
  }
  const turns: number[] = [];
  const runner = new FanoutRunner(fleet, { sliceSize: 512, pool: undefined });
  const done = runner.run(agents, 'settings');
  const count = (): void => {
    turns.push(agents.filter((a) => a.sent.length > 0).length);
    if (turns[turns.length - 1]! < agents.length) setImmediate(count);
  };
  setImmediate(count);
  t.equal(await done, 1_024);
  t.ok(agents.every((a) => a.sent.length === 1), 'every agent sent exactly one frame');
  const midSecondSlice = turns.filter((sent) => sent > 512 && sent < 1_024);
  t.ok(midSecondSlice.length > 0, `the loop turned inside the second slice (agents sent at each turn: ${turns.join(', ')})`);
});

t.test('FanoutRunner: slices, here and on the pool, send the same frames to the same agents', async (t) => {
  const here = fleetOf(1_300);
  const pooled = fleetOf(1_300);
  const pool = shared;
  const completed = pool.stats().completed;
  t.equal(await new FanoutRunner(here.fleet, { sliceSize: 512, pool: undefined }).run(here.agents, 'settings'), 1_300);
  t.equal(await new FanoutRunner(pooled.fleet, { sliceSize: 512, pool }).run(pooled.agents, 'settings'), 1_300);
  t.equal(pool.stats().completed - completed, 6, 'planned on the pool, in batches of 256');
  t.ok(here.agents.every((a) => a.sent.length === 1) && pooled.agents.every((a) => a.sent.length === 1), 'one frame each');
  const bytes = (agents: FakeAgent[]) => agents.map((a) => Buffer.from(a.sent[0]!.frame).toString('hex'));
  t.same(bytes(pooled.agents), bytes(here.agents), 'the same bytes to the same agents');
  t.same(hostsOf(here.agents[0]!.sent[0]!.frame), ['M1', 'M2', 'M3']);
  t.same(hostsOf(here.agents[1]!.sent[0]!.frame), ['M2', 'M3', 'M1']);
  // Everyone is up to date now: a second walk sends nothing.
  t.equal(await new FanoutRunner(pooled.fleet, { sliceSize: 512, pool }).run(pooled.agents, 'settings'), 0);
});

t.test('FanoutRunner: a newer settings version ends an older walk; the newer one covers everyone', async (t) => {
  const { fleet, agents } = fleetOf(2_000);
  const runner = new FanoutRunner(fleet, { sliceSize: 500, pool: undefined });
  const first = runner.run(agents, 'settings');
  // The first slice went out synchronously; the version changes before the second.
  t.equal(fleet.applySettings({ ...RR, host: 'M1,M2,M3,M4' }, 2), true);
  const stopped = await first;
  t.equal(stopped, 500, 'only the first slice was sent under version 1');
  t.equal(await runner.run(agents, 'settings'), 2_000, 'version 2 reaches every agent');
  t.ok(agents.every((a) => a.listState!.hosts.length === 4));
});

t.test('FanoutRunner: an agent whose state changed while its slice was on the pool is left alone', async (t) => {
  const { fleet, agents } = fleetOf(600);
  const running = new FanoutRunner(fleet, { sliceSize: 300, pool: shared }).run(agents, 'settings');
  // Agent 0 reconnects (a new state object) before the pool answers.
  agents[0]!.listState = { ...agents[0]!.listState! };
  t.equal(await running, 599);
  t.equal(agents[0]!.sent.length, 0);
});

t.test('FanoutRunner: a failing pool costs speed, never an update', async (t) => {
  const { fleet, agents } = fleetOf(700);
  const failing = { batchSize: 256, engages: () => true, run: () => Promise.reject(new Error('worker died')) } as unknown as BurstPool;
  t.equal(await new FanoutRunner(fleet, { sliceSize: 256, pool: failing }).run(agents, 'settings'), 700);
  t.ok(agents.every((a) => a.sent.length === 1));
});

t.test('FanoutRunner: agents mid-handshake and of other zones are skipped', async (t) => {
  const { fleet, agents } = fleetOf(3);
  agents[0]!.listState = undefined;
  agents[1]!.listState = { ...agents[1]!.listState!, zone: 'other' };
  t.equal(await new FanoutRunner(fleet, { sliceSize: 1, pool: undefined }).run(agents, 'host-set', 'default'), 1);
  t.same(agents.map((a) => a.sent.length), [0, 0, 1]);
});

t.test('FanoutRunner: only agents whose list changed are sent one, within a zone when asked', async (t) => {
  const fleet = Fleet.fromSnapshot({ settings: RR, settingsVersion: 1, hosts: [hostRecord(1), hostRecord(2), { ...hostRecord(3), zone: 'z2' }] });
  if (fleet instanceof FleetSettingsError) throw fleet;
  const state = (hostId: number, hosts: string[], zone = 'default'): AgentListState => ({ hostId, zone, algorithm: 'roundrobin', hosts, checkInterval: 0 });
  const named = (): [string, FakeAgent][] => [
    ['current', new FakeAgent(state(1, ['M1', 'M2', 'M3']))],
    ['stale', new FakeAgent(state(2, ['M1', 'M2', 'M3']))],
    ['handshaking', new FakeAgent(undefined)],
    ['other zone, stale', new FakeAgent(state(3, ['M3', 'M1', 'M2'], 'z2'))],
  ];
  const runner = new FanoutRunner(fleet, { sliceSize: 16, pool: undefined });
  const sentTo = async (zone?: string): Promise<[string, readonly string[]][]> => {
    const agents = named();
    await runner.run(agents.map(([, agent]) => agent), 'settings', zone);
    return agents.filter(([, agent]) => agent.sent.length > 0).map(([name, agent]) => [name, agent.sent[0]!.hosts]);
  };
  t.same(await sentTo(), [
    ['stale', ['M2', 'M3', 'M1']],
    ['other zone, stale', ['M1', 'M2', 'M3']],
  ]);
  t.same((await sentTo('default')).map(([name]) => name), ['stale']);
});
