/**
 * A registration storm under `balanced`, over real sockets: the zone is planned a bounded
 * number of times (not once per host), and once the throttled host-set re-send fires every
 * connected agent holds exactly balanced's plan for the final host set; a removal re-plans
 * from the hosts left. The re-send window runs on a manual clock: no sleeps, no timing.
 */
import t, { type Test } from 'tap';
import { ALGORITHMS, balanced } from '../../src/lb/index';
import { planLists } from '../../src/lb/plan-stats';
import type { Algorithm } from '../../src/lb/types';
import type { Hosts } from '../../src/protocol/messages';
import { agentAuthorizer } from '../../src/security/agent-auth';
import { AgentRegistry } from '../../src/server/fleet/agent-registry';
import { FleetController } from '../../src/server/fleet/controller';
import { ServerEvents } from '../../src/server/events';
import { DEFAULT_SLICE_SIZE, FanoutRunner } from '../../src/server/fleet/fanout-runner';
import { Fleet, FleetSettingsError } from '../../src/server/fleet/fleet';
import { AgentListener, DEFAULT_LISTEN_OPTIONS } from '../../src/server/net/listener';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/net/connection';
import { defaultAdmissionLimits } from '../../src/security/admission';
import { FileStore } from '../../src/store/file-store';
import { SETTING_ALGORITHM, SETTING_CHECK_INTERVAL, SETTING_HOST } from '../../src/settings/types';
import { connectAgents, type TestAgent } from '../helpers/test-agent';

const SERVERS = ['M1', 'M2', 'M3', 'M4'];
// One fan-out slice: the re-send is written before fire() returns, so a ping round trip
// afterwards proves what every agent was sent.
const AGENTS = DEFAULT_SLICE_SIZE - 12;

/** The store, fleet, controller and listener a server wires (daemon.ts), with a counted balanced and a manual clock. */
async function startStormServer(t: Test) {
  let plans = 0;
  const counted: Algorithm = {
    ...balanced,
    plan(servers, zone) {
      plans++;
      return balanced.plan(servers, zone);
    },
    planInSlices(servers, ids, clock) {
      plans++;
      return balanced.planInSlices!(servers, ids, clock);
    },
  };
  const store = new FileStore({ dataDir: t.testdir() });
  const fleet = Fleet.fromSnapshot(await store.open(), new Map([...ALGORITHMS, ['balanced', counted]]));
  if (fleet instanceof FleetSettingsError) throw fleet;
  const timers: (() => void)[] = [];
  const events = new ServerEvents();
  const agents = new AgentRegistry();
  const fanout = new FanoutRunner(fleet, { sliceSize: DEFAULT_SLICE_SIZE, pool: undefined });
  const controller = new FleetController(store, fleet, agents, events, fanout, {
    intervalMs: 1_000,
    schedule: (run) => {
      timers.push(run);
      return () => timers.splice(timers.indexOf(run) >>> 0, 1);
    },
  });
  const listener = new AgentListener(
    {
      listen: { ...DEFAULT_LISTEN_OPTIONS, host: '127.0.0.1', port: 0 },
      connection: { ...DEFAULT_CONNECTION_LIMITS, closeGraceMs: 200 },
      admission: defaultAdmissionLimits(),
      tls: undefined,
    },
    events,
    {
      authorize: agentAuthorizer({ token: undefined }),
      register: (guid, zone) => controller.registerHost(guid, zone),
      attach: (connection) => agents.attach(connection),
      detach: (connection) => agents.detach(connection),
      listToSend: (state) => fleet.listToSend(state),
      hostsFrame: (hosts) => fleet.hostsFrame(hosts),
    },
  );
  const { port } = await listener.listen();
  t.teardown(async () => {
    controller.close();
    await listener.close('shutting_down', 'test over');
    await store.close();
  });
  /** Ends the open re-send windows, as their timers would. */
  const fire = (): void => {
    for (const run of timers.splice(0)) run();
  };
  return { controller, port, fire, plans: () => plans };
}

interface Held {
  agent: TestAgent;
  hostId: number;
  hosts: readonly string[];
}

/** Reads what each agent was sent since (a ping round trip) and keeps its latest list. */
async function catchUp(held: readonly Held[]): Promise<void> {
  for (const entry of held) {
    const sent = (await entry.agent.roundTrip()).filter((m): m is Hosts => m.type === 'hosts');
    if (sent.length > 0) entry.hosts = sent[sent.length - 1]!.hosts;
  }
}

/** Agents whose list is not balanced's plan for exactly `ids`. */
function offPlan(held: readonly Held[], ids: readonly number[]): number[] {
  const plan = planLists(balanced, SERVERS, ids);
  return held.filter((entry) => entry.hosts.join() !== plan.get(entry.hostId)!.join()).map((entry) => entry.hostId);
}

t.test('a balanced registration storm: bounded plans, then every agent on the exact plan', async (t) => {
  const server = await startStormServer(t);
  await server.controller.updateSettings({ [SETTING_HOST]: SERVERS.join(','), [SETTING_ALGORITHM]: 'balanced', [SETTING_CHECK_INTERVAL]: 0 });
  const guids = Array.from({ length: AGENTS }, (_, i) => `storm-${i}`);
  const held: Held[] = (await connectAgents(server.port, guids)).map(({ agent, welcome, hosts }) => ({ agent, hostId: welcome.hostId, hosts: hosts!.hosts }));
  t.teardown(() => Promise.all(held.map(({ agent }) => agent.close())));
  t.equal(server.plans(), 1, `${AGENTS} registrations planned the zone once (its first host), not once per host`);
  const ids = held.map((entry) => entry.hostId);
  t.not(offPlan(held, ids).length, 0, 'hosts that joined after the plan hold their fallback order meanwhile');

  server.fire();
  await catchUp(held);
  t.equal(server.plans(), 2, 'the folded re-send planned the zone once more');
  t.same(offPlan(held, ids), [], "after the re-send every agent holds balanced's plan for the final host set");

  const gone = held.filter((_, i) => i % 50 === 7);
  const kinds: string[] = [];
  for (const entry of gone) kinds.push((await server.controller.removeHost(entry.hostId, true)).kind);
  t.same(kinds, gone.map(() => 'removed'), `${gone.length} connected hosts removed (force)`);
  const left = held.filter((entry) => !gone.includes(entry));
  await catchUp(left);
  t.equal(server.plans(), 2 + gone.length, 'each removal re-planned once, before its own fan-out');
  t.same(offPlan(left, left.map((entry) => entry.hostId)), [], 'the removed hosts keep no slot: the plan of the hosts left');
  server.fire();
  t.equal(server.plans(), 2 + gone.length, 'nothing stale is left for the pending window to plan');
});
