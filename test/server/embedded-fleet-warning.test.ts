import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log';
import { embeddedFleetWarning } from '../../src/server/fleet/embedded-warning';
import { DEFAULT_SETTINGS, SETTING_ALGORITHM, SETTING_HOST, type Settings } from '../../src/settings/types';
import { api, startTestServer } from '../helpers/server';

const settings = (host: string, algorithm: Settings[typeof SETTING_ALGORITHM]): Settings => ({
  ...DEFAULT_SETTINGS,
  [SETTING_HOST]: host,
  [SETTING_ALGORITHM]: algorithm,
});

const WARNING =
  '3 management servers in host with roundrobin, on the embedded store: each server numbers hosts on its own, ' +
  'so an agent gets a different list from each server it reaches; run every server with the same --store postgres://... (cluster mode)';

t.test('which settings need a shared registry', async (t) => {
  t.equal(embeddedFleetWarning(settings('m1,m2,m3', 'roundrobin')), WARNING);
  t.match(embeddedFleetWarning(settings('m1,m2', 'balanced')), /^2 management servers in host with balanced/);
  t.match(embeddedFleetWarning(settings('m1,m2', 'shuffle')), /^2 management servers/);
  t.equal(embeddedFleetWarning(settings('m1,m2,m3', 'static')), undefined, 'static lists do not depend on host ids');
  t.equal(embeddedFleetWarning(settings('m1', 'roundrobin')), undefined, 'a single server');
});

t.test('the embedded server warns at start and when a change makes it a fleet', async (t) => {
  const lines: { event?: string; msg?: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { event?: string; msg?: string });
      done();
    },
  });
  const server = await startTestServer(t, { logger: createLogger({ level: 'warn', destination }) });
  t.same(lines.filter((l) => l.event === 'embedded_fleet'), [], 'the defaults name one server');
  const answer = await api(server, 'PUT', '/api/settings', { body: { host: 'm1,m2,m3', 'indirect.agent.lb.algorithm': 'roundrobin' } });
  t.equal(answer.status, 200);
  t.same(lines.filter((l) => l.event === 'embedded_fleet').map((l) => l.msg), [WARNING]);
});
