// kill -9 during registerHost / removeHost / updateSettings never leaves the data directory
// unopenable, and never loses a change the child reported as committed.
import t from 'tap';
import path from 'node:path';
import { FileStore } from '../../src/store/file-store';
import { SETTING_CHECK_INTERVAL } from '../../src/settings/types';
import { bundleFixture } from '../fixtures/bundle-fixture';
import { runUntilKilled } from '../fixtures/kill-child';

interface Reported {
  hosts: Array<{ id: number; guid: string }>;
  removed: number[];
  removing: number[];
  settings: Array<{ version: number; interval: number }>;
}

/** Run the churn child until it has reported `lines` changes, then SIGKILL it. */
async function churnUntil(script: string, dataDir: string, runId: string, lines: number): Promise<Reported> {
  const reported: Reported = { hosts: [], removed: [], removing: [], settings: [] };
  // Complete lines only (runUntilKilled drops one cut by the kill): each was fully reported.
  for (const line of await runUntilKilled(script, [dataDir, runId], lines)) {
    const [kind, a, b] = line.split(' ') as [string, string, string];
    if (kind === 'host') reported.hosts.push({ id: Number(a), guid: b });
    else if (kind === 'removed') reported.removed.push(Number(a));
    else if (kind === 'removing') reported.removing.push(Number(a));
    else reported.settings.push({ version: Number(a), interval: Number(b) });
  }
  return reported;
}

t.test('kill -9 loop over a FileStore', async (t) => {
  const dir = t.testdir({ bin: {}, data: {} });
  const script = bundleFixture('store-churn', path.join(dir, 'bin'));
  const dataDir = path.join(dir, 'data');
  const guidOfId = new Map<number, string>();
  const removed = new Set<number>();
  /** Removals asked for: those hosts may be gone even if the removal was never reported. */
  const removing = new Set<number>();
  const intervalOfVersion = new Map<number, number>();
  let reportedChanges = 0;
  const ROUNDS = 20;
  for (let round = 0; round < ROUNDS; round++) {
    const reported = await churnUntil(script, dataDir, `r${round}`, 5 + ((round * 37) % 120));
    for (const { id, guid } of reported.hosts) {
      const earlier = guidOfId.get(id);
      if (earlier !== undefined && earlier !== guid) t.fail(`id ${id} reused: ${earlier} then ${guid}`);
      guidOfId.set(id, guid);
    }
    for (const id of reported.removed) removed.add(id);
    for (const id of reported.removing) removing.add(id);
    for (const { version, interval } of reported.settings) {
      if ((intervalOfVersion.get(version) ?? interval) !== interval) t.fail(`settings version ${version} reported twice`);
      intervalOfVersion.set(version, interval);
    }
    reportedChanges += reported.hosts.length + reported.removed.length + reported.settings.length;

    const store = new FileStore({ dataDir });
    const snapshot = await store.open();
    await store.close();
    const present = new Map(snapshot.hosts.map((h) => [h.id, h.guid]));
    const lost = [...guidOfId].filter(([id, guid]) => !removing.has(id) && present.get(id) !== guid);
    const resurrected = [...removed].filter((id) => present.has(id));
    if (lost.length > 0 || resurrected.length > 0) {
      t.fail(`round ${round}: lost ${JSON.stringify(lost)}, removed but present ${JSON.stringify(resurrected)}`);
      return;
    }
    const newest = Math.max(0, ...intervalOfVersion.keys());
    if (snapshot.settingsVersion < newest) {
      t.fail(`round ${round}: settings version ${snapshot.settingsVersion} older than reported ${newest}`);
      return;
    }
    const expectedInterval = intervalOfVersion.get(snapshot.settingsVersion);
    if (expectedInterval !== undefined && snapshot.settings[SETTING_CHECK_INTERVAL] !== expectedInterval) {
      t.fail(`round ${round}: version ${snapshot.settingsVersion} has interval ${snapshot.settings[SETTING_CHECK_INTERVAL]}, reported ${expectedInterval}`);
      return;
    }
  }
  t.pass(`${ROUNDS} kills: the store always opened with every one of ${reportedChanges} reported changes`);
  t.ok(guidOfId.size > 100 && removed.size > 0 && intervalOfVersion.size > 20, 'the children did real work');
});
