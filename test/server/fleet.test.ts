/** Fleet: planning, the up-to-date rule with the interval, the frame cache, version order. */
import t from 'tap';
import { decodePayload } from '../../src/protocol/message-decoder';
import { Fleet, FleetSettingsError } from '../../src/server/fleet';
import type { AgentListState } from '../../src/server/fanout';
import type { HostRecord, Settings, StoreSnapshot } from '../../src/store/types';

const RR: Settings = { host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 0 };

function host(id: number, zone = 'default'): HostRecord {
  return { id, guid: `g${id}`, zone, registeredAt: '2026-01-01T00:00:00.000Z' };
}

function fleet(settings: Settings = RR, hosts: HostRecord[] = [], settingsVersion = 1): Fleet {
  const made = Fleet.fromSnapshot({ settings, settingsVersion, hosts } satisfies StoreSnapshot);
  if (made instanceof FleetSettingsError) throw made;
  return made;
}

function state(hostId: number, hosts: readonly string[], extra: Partial<AgentListState> = {}): AgentListState {
  return { hostId, zone: 'default', algorithm: 'roundrobin', hosts, checkInterval: 0, ...extra };
}

t.test('unusable stored settings are refused with the reason', async (t) => {
  const made = Fleet.fromSnapshot({ settings: { ...RR, host: '' }, settingsVersion: 3, hosts: [] });
  t.type(made, FleetSettingsError);
  t.equal((made as FleetSettingsError).code, 'bad_stored_settings');
  t.equal((made as FleetSettingsError).message, 'host "" is refused: empty host list');
});

t.test('expectedFor follows roundrobin positions per zone; an unknown host takes the next one', async (t) => {
  const f = fleet(RR, [host(1), host(2), host(5), host(7, 'z2')]);
  t.same(f.expectedFor(1, 'default'), ['M1', 'M2', 'M3']);
  t.same(f.expectedFor(5, 'default'), ['M3', 'M1', 'M2']);
  t.same(f.expectedFor(7, 'z2'), ['M1', 'M2', 'M3']);
  t.same(f.expectedFor(undefined, 'default'), ['M1', 'M2', 'M3'], 'position 3 = 0 mod 3');
  t.equal(f.expectedFor(1, 'default'), f.expectedFor(undefined, 'default'), 'positions 0 and 3 share one list instance');
});

t.test('listToSend: undefined only when list, algorithm and interval all match', async (t) => {
  const f = fleet(RR, [host(1), host(2)]);
  t.equal(f.listToSend(state(2, ['M2', 'M3', 'M1'])), undefined);
  t.same(f.listToSend(state(2, ['M1', 'M2', 'M3'])), ['M2', 'M3', 'M1'], 'wrong order');
  t.same(f.listToSend(state(2, ['M2', 'M3', 'M1'], { algorithm: 'static' })), ['M2', 'M3', 'M1'], 'wrong algorithm');
  t.same(f.listToSend(state(2, ['M2', 'M3', 'M1'], { checkInterval: 5 })), ['M2', 'M3', 'M1'], 'wrong interval');
  t.same(f.listToSend(state(2, ['M2', 'M3', 'M1'], { checkInterval: undefined })), ['M2', 'M3', 'M1'], 'no interval reported');
});

t.test('hostsFrame: one Buffer per list instance, carrying the settings version as seq', async (t) => {
  const f = fleet(RR, [host(1), host(2), host(3), host(4)], 7);
  const first = f.hostsFrame(f.expectedFor(1, 'default'));
  t.equal(f.hostsFrame(f.expectedFor(4, 'default')).frame, first.frame, 'hosts 1 and 4 share the frame');
  t.not(f.hostsFrame(f.expectedFor(2, 'default')).frame, first.frame);
  t.same(decodePayload(first.frame.subarray(4)), { type: 'hosts', seq: 7, hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin', checkInterval: 0 });
  t.equal(f.applySettings({ ...RR, 'indirect.agent.lb.check.interval': 9 }, 8), true);
  const after = f.hostsFrame(f.expectedFor(1, 'default'));
  t.not(after.frame, first.frame, 'a settings change never reuses an old frame');
  t.match(after, { seq: 8, checkInterval: 9 });
});

t.test('applySettings ignores versions that are not newer', async (t) => {
  const f = fleet(RR, [], 5);
  t.equal(f.applySettings({ ...RR, host: 'X' }, 5), false);
  t.equal(f.applySettings({ ...RR, host: 'X' }, 4), false);
  t.equal(f.settings.host, 'M1,M2,M3');
  t.equal(f.applySettings({ ...RR, host: 'X' }, 6), true);
  t.equal(f.settings.host, 'X');
  t.type(f.applySettings({ ...RR, host: '' }, 7), FleetSettingsError);
  t.equal(f.settingsVersion, 6, 'an unusable change is not installed');
});

t.test('addHost reports a shift only when existing positions moved', async (t) => {
  const f = fleet(RR, [host(2), host(4)]);
  t.same(f.addHost(host(6)), { added: true, shifted: false }, 'appended: nobody moved');
  t.same(f.addHost(host(6)), { added: false, shifted: false }, 'known: no-op');
  t.same(f.addHost(host(3)), { added: true, shifted: true }, 'inserted before 4 and 6 (cluster mode)');
  t.same(f.expectedFor(4, 'default'), ['M3', 'M1', 'M2'], 'host 4 moved to position 2');
  t.same(f.addHost(host(3, 'z2')), { added: true, shifted: false }, 'a zone move re-registers it');
  t.equal(f.host(3)?.zone, 'z2');
  t.same(f.expectedFor(4, 'default'), ['M2', 'M3', 'M1'], 'host 4 back at position 1');
});

t.test('removeHost and replaceHosts', async (t) => {
  const f = fleet(RR, [host(1), host(2), host(3)]);
  t.equal(f.removeHost(9), undefined);
  t.same(f.removeHost(1), host(1));
  t.same(f.expectedFor(3, 'default'), ['M2', 'M3', 'M1']);
  f.replaceHosts([host(3), host(10)]);
  t.same([...f.hosts()].map((h) => h.id), [3, 10]);
  t.equal(f.hostCount, 2);
  t.same(f.expectedFor(10, 'default'), ['M2', 'M3', 'M1']);
});
