import t from 'tap';
import { HostListError } from '../../src/protocol/host-list';
import { ServerPool, toServerEntry } from '../../agent/server-pool';

function pool(hosts: string[], port = 8250): ServerPool {
  const result = ServerPool.from(hosts, port);
  if (result instanceof HostListError) throw result;
  return result;
}

t.test('entries keep their text and get the default port', async (t) => {
  const p = pool(['m1', 'M2:9000', '[::1]:7000'], 8300);
  t.same(
    p.entries.map((e) => [e.text, e.host, e.port, e.key]),
    [
      ['m1', 'm1', 8300, 'm1:8300'],
      ['M2:9000', 'M2', 9000, 'm2:9000'],
      ['[::1]:7000', '::1', 7000, '::1:7000'],
    ],
  );
  t.same(p.texts(), ['m1', 'M2:9000', '[::1]:7000']);
  t.equal(p.size, 3);
  t.equal(p.preferred?.text, 'm1');
});

t.test('preferred and away-from-preferred follow the current server', async (t) => {
  const p = pool(['a', 'b', 'c']);
  t.equal(p.current, undefined);
  t.equal(p.awayFromPreferred(), false, 'not connected: nothing to check');
  p.setCurrent(p.entries[1]);
  t.equal(p.current?.text, 'b');
  t.equal(p.awayFromPreferred(), true);
  p.setCurrent(p.entries[0]);
  t.equal(p.awayFromPreferred(), false);
  t.equal(p.isPreferred(undefined), false);
  t.equal(p.isPreferred(toServerEntry('A:8250', 8250) as never), true, 'same server by host and port, whatever the case');
});

t.test('a round goes in list order; a server going away is tried last', async (t) => {
  const p = pool(['a', 'b', 'c']);
  t.same(p.roundOrder().map((e) => e.text), ['a', 'b', 'c']);
  t.same(p.roundOrder(p.entries[0]).map((e) => e.text), ['b', 'c', 'a']);
  t.same(p.roundOrder(p.entries[1]).map((e) => e.text), ['a', 'c', 'b']);
});

t.test('replace is all-or-nothing and names the bad entry', async (t) => {
  const p = pool(['a', 'b']);
  const cases: Array<[string[], string]> = [
    [[], 'empty host list'],
    [['c', 'c:8250'], 'duplicate entry "c:8250" (same as "c")'],
    [['c', 'd:0'], 'entry "d:0" has a bad port "0" (expected 1..65535)'],
    [['c', '@MSHOST@'], 'entry "@MSHOST@" is an unfilled placeholder'],
    [['c,d'], 'entry "c,d" has a bad host "c,d"'],
    [['[::1]', '[0::1]:8250'], 'duplicate entry "[0::1]:8250" (same as "[::1]")'],
  ];
  for (const [hosts, message] of cases) {
    const error = p.replace(hosts);
    t.ok(error instanceof HostListError, `${JSON.stringify(hosts)} refused`);
    t.equal(error?.message, message);
    t.equal(error?.code, 'bad_host_list');
    t.same(p.texts(), ['a', 'b'], 'the last good list is kept');
  }
  t.equal(p.replace(['c', 'a']), undefined);
  t.same(p.texts(), ['c', 'a']);
  t.equal(p.preferred?.text, 'c');
});

t.test('from() refuses a bad list', async (t) => {
  const result = ServerPool.from(['ok', 'fe80::1'], 8250);
  t.ok(result instanceof HostListError);
  t.equal((result as HostListError).message, 'entry "fe80::1" looks like a bare IPv6 address: write it as [addr]:port');
});
