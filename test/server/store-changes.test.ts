/**
 * Changes committed by another server (cluster mode) arrive as StoreChange values; the
 * controller applies them like local ones. Driven here through the real in-process server.
 */
import t from 'tap';
import { AgentRegistry } from '../../src/server/fleet/agent-registry';
import { FleetController } from '../../src/server/fleet/controller';
import { ServerEvents } from '../../src/server/events';
import type { FanoutRunner } from '../../src/server/fleet/fanout-runner';
import { Fleet, FleetSettingsError } from '../../src/server/fleet/fleet';
import { type HostRecord, type Store } from '../../src/store/types';
import { DEFAULT_SETTINGS } from '../../src/settings/types';
import { api, nextEvent, startTestServer } from '../helpers/server';
import { connectAgents } from '../helpers/test-agent';

const RR = { ...DEFAULT_SETTINGS, host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin' as const, 'indirect.agent.lb.check.interval': 0 };

function record(id: number, guid: string, zone = 'default'): HostRecord {
  return { id, guid, zone, registeredAt: '2026-01-01T00:00:00.000Z' };
}

t.test('a settings change from elsewhere is pushed; an older one is ignored', async (t) => {
  const server = await startTestServer(t);
  const agents = await connectAgents(server.agentPort, ['a', 'b']);
  server.controller.onStoreChange({ kind: 'settings', settings: RR, settingsVersion: 4 });
  t.same(await agents[0]!.agent.roundTrip(), [{ type: 'hosts', seq: 4, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 0 }]);
  t.same(await agents[1]!.agent.roundTrip(), [{ type: 'hosts', seq: 4, hosts: ['M2', 'M3', 'M1'], algorithm: 'roundrobin', checkInterval: 0 }]);
  server.controller.onStoreChange({ kind: 'settings', settings: { ...RR, host: 'X' }, settingsVersion: 3 });
  t.same(await agents[0]!.agent.roundTrip(), [], 'a stale version changes nothing');
  t.same((await api(server, 'GET', '/api/settings')).body, RR);
  t.equal(server.controller.current().settingsVersion, 4);
  for (const { agent } of agents) await agent.close();
});

t.test('a host added elsewhere with a lower id moves the agents after it', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: RR });
  const agents = await connectAgents(server.agentPort, ['a', 'b']); // ids 1 and 2
  // Id 0 sorts before both: each moves one position on.
  server.controller.onStoreChange({ kind: 'host-added', host: record(0, 'elsewhere') });
  t.match(await agents[0]!.agent.roundTrip(), [{ type: 'hosts', hosts: ['M2', 'M3', 'M1'] }]);
  t.match(await agents[1]!.agent.roundTrip(), [{ type: 'hosts', hosts: ['M3', 'M1', 'M2'] }]);
  server.controller.onStoreChange({ kind: 'host-added', host: record(9, 'later') });
  t.same(await agents[0]!.agent.roundTrip(), [], 'an id after every other moves nobody');
  for (const { agent } of agents) await agent.close();
});

t.test('a host removed elsewhere is disconnected here, and the others re-sent', async (t) => {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: RR });
  const agents = await connectAgents(server.agentPort, ['a', 'b']);
  const removed = nextEvent(server.events, 'disconnected');
  server.controller.onStoreChange({ kind: 'host-removed', id: 1 });
  t.match(await removed, { reason: 'removed', hostId: 1 });
  await agents[0]!.agent.closed;
  t.match(await agents[1]!.agent.roundTrip(), [{ type: 'hosts', hosts: ['M1', 'M2', 'M3'] }]);
  await agents[1]!.agent.close();
});

t.test('a resync replaces hosts and settings, closing agents whose host is gone', async (t) => {
  const server = await startTestServer(t);
  const agents = await connectAgents(server.agentPort, ['a', 'b', 'c']);
  const gone = nextEvent(server.events, 'disconnected');
  server.controller.onStoreChange({
    kind: 'resync',
    snapshot: { settings: RR, settingsVersion: 7, hosts: [record(2, 'b'), record(3, 'c')] },
  });
  t.match(await gone, { reason: 'removed', hostId: 1 });
  t.match(await agents[1]!.agent.roundTrip(), [{ type: 'hosts', seq: 7, hosts: ['M1', 'M2', 'M3'] }]);
  t.match(await agents[2]!.agent.roundTrip(), [{ type: 'hosts', seq: 7, hosts: ['M2', 'M3', 'M1'] }]);
  t.match((await api(server, 'GET', '/api/hosts')).body, [{ id: 2 }, { id: 3 }]);
  for (const { agent } of agents.slice(1)) await agent.close();
});

t.test('counts for metrics: connected agents by zone, registered hosts', async (t) => {
  const server = await startTestServer(t);
  const agents = [
    ...(await connectAgents(server.agentPort, ['a', 'b'], { zone: 'z1' })),
    ...(await connectAgents(server.agentPort, ['c'])),
  ];
  const gone = nextEvent(server.events, 'disconnected');
  await agents[2]!.agent.close();
  await gone;
  t.same([...server.controller.connectedByZone()], [['z1', 2]]);
  t.equal(server.controller.registeredHosts, 3);
  for (const { agent } of agents.slice(0, 2)) await agent.close();
});

t.test('a fan-out that fails is reported as listenerError, not left to stop the process', async (t) => {
  const fleet = Fleet.fromSnapshot({ settings: RR, settingsVersion: 1, hosts: [record(1, 'a'), record(2, 'b')] });
  if (fleet instanceof FleetSettingsError) throw fleet;
  const events = new ServerEvents();
  const failing = { run: () => Promise.reject(new Error('fan-out bug')) } as unknown as FanoutRunner;
  // The store is not reached: these changes were committed elsewhere.
  const controller = new FleetController({} as Store, fleet, new AgentRegistry(), events, failing);
  t.teardown(() => controller.close());
  const reported = (): Promise<unknown[]> => nextEvent(events, 'listenerError').then((e) => [e.event, (e.error as Error).message]);
  const afterSettings = reported();
  controller.onStoreChange({ kind: 'settings', settings: { ...RR, host: 'M1,M2' }, settingsVersion: 2 });
  t.same(await afterSettings, ['fanout:settings', 'fan-out bug']);
  const afterRemoval = reported();
  controller.onStoreChange({ kind: 'host-removed', id: 1 });
  t.same(await afterRemoval, ['fanout:host-set', 'fan-out bug']);
  t.equal(controller.registeredHosts, 1, 'the change itself is applied');
});
