import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import {
  formatHostSetting,
  hostEntryKey,
  HostListError,
  parseHostEntries,
  parseHostEntry,
  parseHostList,
  parseHostSetting,
} from '../../src/protocol/host-list';

/** The error message of a HostListError result, after checking its type and code. */
function refusal(result: unknown): string | undefined {
  if (!(result instanceof HostListError)) return undefined;
  t.equal(result.code, 'bad_host_list');
  return result.message;
}

t.test('entries: address, address:port, [ipv6], [ipv6]:port', async (t) => {
  t.same(parseHostEntry('m1'), { host: 'm1', port: 8250 });
  t.same(parseHostEntry('m1', 9000), { host: 'm1', port: 9000 }, 'the caller picks the default port');
  t.same(parseHostEntry('  10.0.0.1:8251 '), { host: '10.0.0.1', port: 8251 });
  t.same(parseHostEntry('[::1]'), { host: '::1', port: 8250 });
  t.same(parseHostEntry('[fe80::1]:65535'), { host: 'fe80::1', port: 65535 });
  t.same(parseHostEntry('ms-1.example_net:1'), { host: 'ms-1.example_net', port: 1 });
});

const entryErrors: [string, string][] = [
  ['', 'empty entry'],
  ['@MSHOST@', 'entry "@MSHOST@" is an unfilled placeholder'],
  ['m1@static', 'entry "m1@static" contains "@"'],
  ['m 1', 'entry "m 1" contains whitespace or a control character'],
  ['m\u00001', 'entry "m\\u00001" contains whitespace or a control character'],
  ['::1', 'entry "::1" looks like a bare IPv6 address: write it as [addr]:port'],
  ['fe80::1:8250', 'entry "fe80::1:8250" looks like a bare IPv6 address: write it as [addr]:port'],
  [':8250', 'entry ":8250" has no host'],
  ['m1:', 'entry "m1:" has a bad port "" (expected 1..65535)'],
  ['m1:0', 'entry "m1:0" has a bad port "0" (expected 1..65535)'],
  ['m1:65536', 'entry "m1:65536" has a bad port "65536" (expected 1..65535)'],
  ['m1:99999', 'entry "m1:99999" has a bad port "99999" (expected 1..65535)'],
  ['m1:80a', 'entry "m1:80a" has a bad port "80a" (expected 1..65535)'],
  ['m1:-1', 'entry "m1:-1" has a bad port "-1" (expected 1..65535)'],
  ['m1:+80', 'entry "m1:+80" has a bad port "+80" (expected 1..65535)'],
  ['m1:123456', 'entry "m1:123456" has a bad port "123456" (expected 1..65535)'],
  ['http://m1', 'entry "http://m1" is a URL: write host:port, without "http://"'],
  ['http://x:80', 'entry "http://x:80" is a URL: write host:port, without "http://"'],
  ['tcp://[::1]:8250', 'entry "tcp://[::1]:8250" is a URL: write host:port, without "tcp://"'],
  ['m1:08250', 'entry "m1:08250" has a port with a leading zero "08250" (write "8250")'],
  ['[::1]:0080', 'entry "[::1]:0080" has a port with a leading zero "0080" (write "80")'],
  ['m1:00', 'entry "m1:00" has a bad port "00" (expected 1..65535)'],
  ['127.000.000.001:8250', 'entry "127.000.000.001:8250" has "127.000.000.001", not an IPv4 address in dotted decimal without leading zeros'],
  ['010.0.0.1', 'entry "010.0.0.1" has "010.0.0.1", not an IPv4 address in dotted decimal without leading zeros'],
  ['10.0.0.256', 'entry "10.0.0.256" has "10.0.0.256", not an IPv4 address in dotted decimal without leading zeros'],
  ['10.0.1', 'entry "10.0.1" has "10.0.1", not an IPv4 address in dotted decimal without leading zeros'],
  ['m1/x:80', 'entry "m1/x:80" has a bad host "m1/x"'],
  ['m1/x', 'entry "m1/x" has a bad host "m1/x"'],
  ['mé', 'entry "mé" has a bad host "mé"'],
  ['[m1]:8250', 'entry "[m1]:8250": brackets must hold an IPv6 address, as in [addr]:port'],
  ['[::1', 'entry "[::1": brackets must hold an IPv6 address, as in [addr]:port'],
  ['[::1]8250', 'entry "[::1]8250" has "8250" after "]"'],
  ['[::1]:0', 'entry "[::1]:0" has a bad port "0" (expected 1..65535)'],
  ['h'.repeat(256), `entry "${'h'.repeat(256)}" is longer than 255 bytes`],
];

for (const [entry, message] of entryErrors) {
  t.test(`entry ${JSON.stringify(entry)} is refused, naming it`, async (t) => {
    t.equal(refusal(parseHostEntry(entry)), message);
  });
}

t.test('spaces around an entry are trimmed, tabs too', async (t) => {
  t.same(parseHostEntry('\tm1 '), { host: 'm1', port: 8250 });
});

t.test('lists: trimmed entries kept as written, in order', async (t) => {
  t.same(parseHostList('M1, m2:8251 ,[::1]:8250'), ['M1', 'm2:8251', '[::1]:8250']);
  t.same(parseHostList('m1'), ['m1']);
  t.equal((parseHostList(Array.from({ length: 64 }, (_, i) => `m${i}`).join(',')) as string[]).length, 64);
});

const listErrors: [string, string][] = [
  ['', 'empty host list'],
  ['   ', 'empty host list'],
  ['M1,,M2', 'empty entry #2 in "M1,,M2"'],
  ['M1,M2,', 'empty entry #3 in "M1,M2,"'],
  [',M1', 'empty entry #1 in ",M1"'],
  ['m1,M1:8250', 'duplicate entry "M1:8250" (same as "m1")'],
  ['127.0.0.1:8250,127.000.000.001:8250', 'entry "127.000.000.001:8250" has "127.000.000.001", not an IPv4 address in dotted decimal without leading zeros'],
  ['m1:9000,m2,M1:9000', 'duplicate entry "M1:9000" (same as "m1:9000")'],
  ['[::1],[::1]:8250', 'duplicate entry "[::1]:8250" (same as "[::1]")'],
  ['[::1],[0:0:0::1]:8250', 'duplicate entry "[0:0:0::1]:8250" (same as "[::1]")'],
  ['[FE80::1],[fe80:0::1]', 'duplicate entry "[fe80:0::1]" (same as "[FE80::1]")'],
  ['@MSHOST@', 'entry "@MSHOST@" is an unfilled placeholder'],
  ['m1,m2 x', 'entry "m2 x" contains whitespace or a control character'],
  ['m1,m2:0', 'entry "m2:0" has a bad port "0" (expected 1..65535)'],
  ['m1,::1', 'entry "::1" looks like a bare IPv6 address: write it as [addr]:port'],
  [Array.from({ length: 65 }, (_, i) => `m${i}`).join(','), '65 entries, at most 64 allowed'],
];

for (const [list, message] of listErrors) {
  t.test(`list ${JSON.stringify(list.slice(0, 40))} is refused, naming the bad part`, async (t) => {
    t.equal(refusal(parseHostList(list)), message);
  });
}

t.test('entries given one by one: each checked alone, a comma inside one is refused', async (t) => {
  t.same(parseHostEntries(['m1', '[::1]:9000']), [
    { host: 'm1', port: 8250 },
    { host: '::1', port: 9000 },
  ]);
  t.equal(refusal(parseHostEntries(['m1,m2'])), 'entry "m1,m2" has a bad host "m1,m2"');
  t.equal(refusal(parseHostEntries([])), 'empty host list');
  t.equal(refusal(parseHostEntries(['m1', ''])), 'empty entry');
  t.equal(refusal(parseHostEntries(['m1', 'M1:8250'])), 'duplicate entry "M1:8250" (same as "m1")');
  t.equal(refusal(parseHostEntries(Array.from({ length: 65 }, (_, i) => `m${i}`))), '65 entries, at most 64 allowed');
});

t.test('hostEntryKey: one key per server', async (t) => {
  t.equal(hostEntryKey({ host: 'M1.Example', port: 8250 }), 'm1.example:8250');
  t.equal(hostEntryKey({ host: '0:0:0:0:0:0:0:1', port: 1 }), '::1:1');
  t.equal(hostEntryKey({ host: 'FE80::0:1%eth0', port: 1 }), 'fe80::1%eth0:1', 'the zone id is kept');
  t.same(parseHostList('[fe80::1%eth0],[fe80::1%eth1]'), ['[fe80::1%eth0]', '[fe80::1%eth1]'], 'different links are different servers');
});

t.test('different ports are different servers', async (t) => {
  t.same(parseHostList('m1,m1:8251'), ['m1', 'm1:8251']);
  t.same(parseHostList('m1:9000,m1', 9000) instanceof HostListError, true, 'same with a default port of 9000');
});

t.test('settings: list@algorithm, or a bare list', async (t) => {
  t.same(parseHostSetting('M1,M2,M3@roundrobin'), { hosts: ['M1', 'M2', 'M3'], algorithm: 'roundrobin' });
  t.same(parseHostSetting(' m1 , m2 @ shuffle '), { hosts: ['m1', 'm2'], algorithm: 'shuffle' });
  t.same(parseHostSetting('m1@static'), { hosts: ['m1'], algorithm: 'static' });
  t.same(parseHostSetting('m1,[::1]:8250'), { hosts: ['m1', '[::1]:8250'], algorithm: undefined });
});

const settingErrors: [string, string][] = [
  ['@MSHOST@', 'unfilled placeholder "@MSHOST@" in "@MSHOST@"'],
  ['m1,@MSHOST@@static', 'unfilled placeholder "@MSHOST@" in "m1,@MSHOST@@static"'],
  ['m1,m2@', 'missing algorithm after "@" in "m1,m2@"'],
  ['m1,m2@ ', 'missing algorithm after "@" in "m1,m2@"'],
  ['m1,m2@roundrobn', 'unknown algorithm "roundrobn" (expected one of static, roundrobin, shuffle, balanced)'],
  ['m1,m2@RoundRobin', 'unknown algorithm "RoundRobin" (expected one of static, roundrobin, shuffle, balanced)'],
  ['m1@x,m2@static', 'entry "m1@x" contains "@"'],
  ['@static', 'empty host list'],
  ['m1,,m2@static', 'empty entry #2 in "m1,,m2"'],
  ['m1,M1@static', 'duplicate entry "M1" (same as "m1")'],
  ['', 'empty host list'],
];

for (const [setting, message] of settingErrors) {
  t.test(`setting ${JSON.stringify(setting)} is refused, naming the bad part`, async (t) => {
    t.equal(refusal(parseHostSetting(setting)), message);
  });
}

t.test('HostListError is an Error with a code', async (t) => {
  const error = parseHostList('');
  t.ok(error instanceof Error);
  t.equal((error as HostListError).name, 'HostListError');
});

t.test('format', async (t) => {
  t.equal(formatHostSetting(['m1', 'm2'], 'roundrobin'), 'm1,m2@roundrobin');
  t.equal(formatHostSetting(['m1', '[::1]:8250']), 'm1,[::1]:8250');
  t.equal(formatHostSetting(['m1'], ''), 'm1', 'no algorithm: a bare list');
});

t.test('property: parse(format(list, algorithm)) gives the list back', async (t) => {
  // Digits and dots only would be an IPv4 address, refused unless in dotted decimal.
  const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,15}$/).filter((h) => /[A-Za-z-]/.test(h));
  const entry = fc.oneof(
    name,
    fc.tuple(name, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
    fc.ipV6().map((a) => `[${a}]:${8250}`),
  );
  const hosts = fc.uniqueArray(entry, {
    minLength: 1,
    maxLength: 64,
    // Entries the codec counts as duplicates are not a valid list to start from: the codec's
    // own key, which also takes an IPv6 address in its canonical form ([::0] is [::0:0:0:0:0:0]).
    selector: (e) => {
      const parsed = parseHostEntry(e);
      return parsed instanceof HostListError ? e : hostEntryKey(parsed);
    },
  });
  fc.assert(
    fc.property(hosts, fc.constantFrom(undefined, 'static', 'roundrobin', 'shuffle'), (list, algorithm) => {
      const parsed = parseHostSetting(formatHostSetting(list, algorithm));
      if (parsed instanceof HostListError) throw parsed;
      assert.deepStrictEqual({ ...parsed }, { hosts: list, algorithm });
    }),
    { numRuns: 200 },
  );
  t.pass('200 lists round-trip');
});
