import { mkdtemp, readFile, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALGORITHM_NAMES } from '../../src/protocol/algorithms';
import { parseProperties } from '../../agent/properties';
import {
  applyAssignment,
  ConfigError,
  effectiveCheckInterval,
  loadAgentConfig,
  readAgentConfig,
  type AgentConfig,
} from '../../agent/config';

function read(text: string): AgentConfig {
  const config = readAgentConfig(parseProperties(text));
  if (config instanceof ConfigError) throw config;
  return config;
}

function refusal(text: string): string {
  const config = readAgentConfig(parseProperties(text));
  if (!(config instanceof ConfigError)) throw new Error(`expected a ConfigError for ${JSON.stringify(text)}`);
  t.equal(config.code, 'bad_config');
  return config.message;
}

t.test('reads every agent key', async (t) => {
  t.same(
    read('host=m1,m2:9000@roundrobin\nhost.lb.check.interval=30\nport=8300\nguid=abc\nzone=z1\nother=kept\n'),
    {
      hosts: ['m1', 'm2:9000'],
      algorithm: 'roundrobin',
      serverCheckInterval: 30,
      checkIntervalOverride: undefined,
      port: 8300,
      guid: 'abc',
      zone: 'z1',
    },
  );
});

t.test('defaults: bare list, interval 0, port 8250, no guid or zone', async (t) => {
  t.same(read('host = m1, m2\n'), {
    hosts: ['m1', 'm2'],
    algorithm: undefined,
    serverCheckInterval: 0,
    checkIntervalOverride: undefined,
    port: 8250,
    guid: undefined,
    zone: undefined,
  });
});

t.test('the local override wins over the server interval, and 0 is a real override', async (t) => {
  t.equal(effectiveCheckInterval(read('host=m1\nhost.lb.check.interval=30\n')), 30);
  t.equal(effectiveCheckInterval(read('host=m1\nhost.lb.check.interval=30\nhost.lb.check.interval.override=5\n')), 5);
  t.equal(effectiveCheckInterval(read('host=m1\nhost.lb.check.interval=30\nhost.lb.check.interval.override=0\n')), 0);
});

t.test('bad values are refused with the key and the value named', async (t) => {
  const cases: Array<[string, string]> = [
    ['port=8250\n', 'agent.properties: host is missing (expected e.g. host=m1:8250,m2:8250@roundrobin)'],
    ['host=\n', 'agent.properties: bad value for host: "" (empty host list)'],
    ['host=m1,,m2\n', 'agent.properties: bad value for host: "m1,,m2" (empty entry #2 in "m1,,m2")'],
    ['host=@MSHOST@\n', 'agent.properties: bad value for host: "@MSHOST@" (unfilled placeholder "@MSHOST@" in "@MSHOST@")'],
    [
      'host=m1@fastest\n',
      `agent.properties: bad value for host: "m1@fastest" (unknown algorithm "fastest" (expected one of ${ALGORITHM_NAMES.join(', ')}))`,
    ],
    ['host=m1\nport=http\n', 'agent.properties: bad value for port: "http" (expected a whole number)'],
    ['host=m1\nport=0\n', 'agent.properties: bad value for port: "0" (expected 1..65535)'],
    ['host=m1\nport=65536\n', 'agent.properties: bad value for port: "65536" (at most 65535)'],
    ['host=m1\nhost.lb.check.interval=-1\n', 'agent.properties: bad value for host.lb.check.interval: "-1" (expected a whole number)'],
    [
      'host=m1\nhost.lb.check.interval.override=1.5\n',
      'agent.properties: bad value for host.lb.check.interval.override: "1.5" (expected a whole number)',
    ],
    ['host=m1\nhost.lb.check.interval=2147484\n', 'agent.properties: bad value for host.lb.check.interval: "2147484" (at most 2147483)'],
    [`host=m1\nguid=${'g'.repeat(129)}\n`, `agent.properties: bad value for guid: "${'g'.repeat(129)}" (expected 1..128 bytes)`],
    [`host=m1\nzone=${'z'.repeat(129)}\n`, `agent.properties: bad value for zone: "${'z'.repeat(129)}" (expected 1..128 bytes)`],
  ];
  for (const [text, message] of cases) t.equal(refusal(text), message, JSON.stringify(text));
});

t.test('the port key applies to entries without one', async (t) => {
  t.same(read('host=m1,m1:8250\nport=9000\n').hosts, ['m1', 'm1:8250'], 'm1 means m1:9000 here, so no duplicate');
  t.equal(refusal('host=m1,m1:8250\n'), 'agent.properties: bad value for host: "m1,m1:8250" (duplicate entry "m1:8250" (same as "m1"))');
});

t.test('applyAssignment writes host and interval only when they changed', async (t) => {
  const text = '# servers\nhost = m1, m2@roundrobin\n! interval\nhost.lb.check.interval: 0\n';
  const same = parseProperties(text);
  t.equal(applyAssignment(same, { hosts: ['m1', 'm2'], algorithm: 'roundrobin', checkInterval: 0 }), false);
  t.equal(same.toString(), text, 'same meaning, different spacing: untouched');

  const changed = parseProperties(text);
  t.equal(applyAssignment(changed, { hosts: ['m2', 'm1'], algorithm: 'roundrobin', checkInterval: 15 }), true);
  t.equal(changed.toString(), '# servers\nhost = m2,m1@roundrobin\n! interval\nhost.lb.check.interval: 15\n');

  const algorithmOnly = parseProperties(text);
  t.equal(applyAssignment(algorithmOnly, { hosts: ['m1', 'm2'], algorithm: 'static', checkInterval: 0 }), true);
  t.equal(algorithmOnly.get('host'), 'm1,m2@static');

  const noInterval = parseProperties('host=m1@static\n');
  t.equal(applyAssignment(noInterval, { hosts: ['m1'], algorithm: 'static', checkInterval: 0 }), false, 'absent means 0');
  t.equal(applyAssignment(noInterval, { hosts: ['m1'], algorithm: 'static', checkInterval: 7 }), true);
  t.equal(noInterval.toString(), 'host=m1@static\nhost.lb.check.interval=7\n');
});

t.test('applyAssignment refuses a bad update and leaves the doc alone', async (t) => {
  const text = 'host=m1@static\n';
  const cases: Array<[Parameters<typeof applyAssignment>[1], string]> = [
    [{ hosts: [], algorithm: 'static', checkInterval: 0 }, 'agent.properties: bad value for host: "@static" (empty host list)'],
    [
      { hosts: ['a', 'a'], algorithm: 'static', checkInterval: 0 },
      'agent.properties: bad value for host: "a,a@static" (duplicate entry "a" (same as "a"))',
    ],
    [{ hosts: ['a,b'], algorithm: 'static', checkInterval: 0 }, 'agent.properties: bad value for host: "a,b@static" (entry "a,b" has a bad host "a,b")'],
    [
      { hosts: ['a'], algorithm: 'nope', checkInterval: 0 },
      `agent.properties: bad value for host: "a@nope" (unknown algorithm "nope" (expected one of ${ALGORITHM_NAMES.join(', ')}))`,
    ],
    [
      { hosts: ['a'], algorithm: 'static', checkInterval: -1 },
      'agent.properties: bad value for host.lb.check.interval: "-1" (expected 0..2147483)',
    ],
    [
      { hosts: ['a'], algorithm: 'static', checkInterval: 0.5 },
      'agent.properties: bad value for host.lb.check.interval: "0.5" (expected 0..2147483)',
    ],
  ];
  for (const [update, message] of cases) {
    const doc = parseProperties(text);
    const result = applyAssignment(doc, update);
    t.ok(result instanceof ConfigError);
    t.equal((result as ConfigError).message, message);
    t.equal(doc.toString(), text);
  }
});

t.test('loadAgentConfig', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agent-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  t.test('generates and saves a guid on first start, keeping the file as it was', async (t) => {
    const path = join(dir, 'first.properties');
    await writeFile(path, '# my agent\nhost=m1\n');
    const loaded = await loadAgentConfig(path, () => 'generated-guid');
    if (loaded instanceof ConfigError) throw loaded;
    t.equal(loaded.config.guid, 'generated-guid');
    t.equal(await readFile(path, 'latin1'), '# my agent\nhost=m1\nguid=generated-guid\n');
    const again = await loadAgentConfig(path, () => 'another-guid');
    if (again instanceof ConfigError) throw again;
    t.equal(again.config.guid, 'generated-guid', 'the same identity after a restart');
  });

  t.test("an empty guid= (CloudStack's sample file) is missing: one is generated into that line", async (t) => {
    const path = join(dir, 'empty-guid.properties');
    await writeFile(path, '# sample\nguid=\nhost=m1\n');
    t.equal(read('guid=\nhost=m1\n').guid, undefined);
    t.equal(read('guid=  \nhost=m1\n').guid, undefined, 'whitespace only is empty too');
    const loaded = await loadAgentConfig(path, () => 'generated-guid');
    if (loaded instanceof ConfigError) throw loaded;
    t.equal(loaded.config.guid, 'generated-guid');
    t.equal(await readFile(path, 'latin1'), '# sample\nguid=generated-guid\nhost=m1\n', 'filled in place, not appended');
  });

  t.test('the default generator makes a UUID', async (t) => {
    const path = join(dir, 'uuid.properties');
    await writeFile(path, 'host=m1\n');
    const loaded = await loadAgentConfig(path);
    if (loaded instanceof ConfigError) throw loaded;
    t.match(loaded.config.guid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  t.test('a missing file, a bad escape and a bad value are ConfigErrors', async (t) => {
    const missing = await loadAgentConfig(join(dir, 'nope.properties'));
    t.ok(missing instanceof ConfigError);
    t.match((missing as ConfigError).message, /^cannot read .*nope\.properties: ENOENT/);

    const escape = join(dir, 'escape.properties');
    await writeFile(escape, 'host=m1\\u12\n');
    const badEscape = await loadAgentConfig(escape);
    t.ok(badEscape instanceof ConfigError);
    t.match((badEscape as ConfigError).message, /^cannot read .*escape\.properties: /);

    const value = join(dir, 'value.properties');
    await writeFile(value, 'host=m1\nport=x\n');
    const badValue = await loadAgentConfig(value);
    t.equal((badValue as ConfigError).message, 'agent.properties: bad value for port: "x" (expected a whole number)');
  });

  t.test('a guid that cannot be saved is an error, not a silent new identity per start', { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false }, async (t) => {
    const sub = join(dir, 'readonly');
    await mkdir(sub);
    const path = join(sub, 'agent.properties');
    await writeFile(path, 'host=m1\n');
    await chmod(sub, 0o500);
    t.teardown(() => chmod(sub, 0o700));
    const result = await loadAgentConfig(path, () => 'g');
    t.ok(result instanceof ConfigError);
    t.match((result as ConfigError).message, /^cannot save the new guid to /);
  });
});
