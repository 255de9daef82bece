/** Which entry of `host` is this server (what `drain` with no address drains). */
import os from 'node:os';
import t from 'tap';
import { localNames, selfAddress } from '../../src/server/drain/self';

const listen = (address: string, port: number) => ({ address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' });
const machine = () => new Set(['10.0.0.5', 'mgmt-1', 'localhost', '127.0.0.1', '::1']);

t.test('--advertise says it outright', async (t) => {
  t.equal(selfAddress('m1.example', listen('0.0.0.0', 8250), ['M1', 'M2'], machine), 'm1.example');
});

t.test('the one entry naming this listener, as written', async (t) => {
  t.equal(selfAddress(undefined, listen('127.0.0.1', 9000), ['127.0.0.1:9000', '127.0.0.1:9001'], machine), '127.0.0.1:9000');
  t.equal(selfAddress(undefined, listen('127.0.0.1', 9000), ['localhost:9000', 'M2'], machine), 'localhost:9000', 'localhost for a loopback listener');
  t.equal(selfAddress(undefined, listen('0.0.0.0', 8250), ['10.0.0.4', '10.0.0.5', '10.0.0.6'], machine), '10.0.0.5', 'wildcard: a local address, default port');
  t.equal(selfAddress(undefined, listen('0.0.0.0', 8250), ['MGMT-1', 'mgmt-2'], machine), 'MGMT-1', 'wildcard: the host name, any case');
  t.equal(selfAddress(undefined, listen('::', 8250), ['[::1]:8250', 'M2'], machine), '[::1]:8250');
});

t.test('none, several or a bad entry: cannot tell', async (t) => {
  t.equal(selfAddress(undefined, listen('127.0.0.1', 9000), ['M1', 'M2'], machine), undefined, 'none');
  t.equal(selfAddress(undefined, listen('0.0.0.0', 8250), ['10.0.0.5', 'mgmt-1'], machine), undefined, 'two names for this machine');
  t.equal(selfAddress(undefined, listen('127.0.0.1', 9000), ['127.0.0.1:9001'], machine), undefined, 'another port');
  t.equal(selfAddress(undefined, listen('127.0.0.1', 9000), ['bad entry:9000'], machine), undefined, 'unparsable entry');
});

t.test("this machine's own names: its host name and interface addresses", async (t) => {
  const names = localNames();
  t.ok(names.has(os.hostname().toLowerCase()));
  t.ok(names.has('127.0.0.1'));
  t.equal(selfAddress(undefined, listen('0.0.0.0', 8250), [`${os.hostname()}:8250`, 'elsewhere.invalid']), `${os.hostname()}:8250`);
});
