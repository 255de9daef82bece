/**
 * `agentlb ca`: the CA and the certificates it issues (checked with node:crypto's X509 parser,
 * not with the library that made them), file modes, refusals, and the command line.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runCliInProcess } from '../helpers/cli';
import { CaError, initCa, issueCertificate } from '../../src/security/ca';
import { parseSan, SanError } from '../../src/security/san';

async function x509(file: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(file));
}

async function mode(file: string): Promise<string> {
  return ((await stat(file)).mode & 0o777).toString(8);
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

t.test('init makes a CA; issue signs server and agent certificates with it', async (t) => {
  const dir = path.join(t.testdir(), 'ca');
  const now = new Date('2030-01-02T03:04:05Z');
  const ca = await initCa(dir, { now, days: 10 });
  t.same(ca, { certFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'ca.key') });
  t.equal(await mode(dir), '700');
  t.equal(await mode(ca.keyFile), '600');
  t.equal(await mode(ca.certFile), '644');
  const caCert = await x509(ca.certFile);
  t.equal(caCert.ca, true);
  t.equal(caCert.subject, 'CN=agentlb CA');
  t.equal(caCert.validTo, 'Jan 12 03:04:05 2030 GMT');

  const server = await issueCertificate(dir, { name: 'mgmt1.example', role: 'server', sans: [parseSan('10.0.0.5') as never, parseSan('::1') as never] });
  const serverCert = await x509(server.certFile);
  t.equal(await mode(server.keyFile), '600');
  t.equal(serverCert.subject, 'CN=mgmt1.example');
  t.equal(serverCert.issuer, 'CN=agentlb CA');
  t.equal(serverCert.ca, false);
  t.ok(serverCert.verify(caCert.publicKey), 'signed by the CA');
  t.ok(serverCert.checkIssued(caCert));
  t.equal(serverCert.subjectAltName, 'DNS:mgmt1.example, IP Address:10.0.0.5, IP Address:0:0:0:0:0:0:0:1');
  t.same(serverCert.keyUsage, [SERVER_AUTH]);
  t.equal(serverCert.checkHost('mgmt1.example'), 'mgmt1.example');
  t.equal(serverCert.checkIP('10.0.0.5'), '10.0.0.5');

  const agent = await issueCertificate(dir, { name: 'host-7', role: 'agent', sans: [{ type: 'URI', value: 'urn:agentlb:host-7' }] });
  const agentCert = await x509(agent.certFile);
  t.equal(agentCert.subject, 'CN=host-7');
  t.equal(agentCert.subjectAltName, 'URI:urn:agentlb:host-7');
  t.same(agentCert.keyUsage, [CLIENT_AUTH]);
  t.ok(agentCert.verify(caCert.publicKey));
  t.not(agentCert.serialNumber, serverCert.serialNumber);
  const plain = await x509((await issueCertificate(dir, { name: 'host-8', role: 'agent' })).certFile);
  t.equal(plain.subjectAltName, undefined, 'an agent certificate without --san has no SAN');
});

t.test('nothing is overwritten, and a missing or broken CA is named', async (t) => {
  const dir = t.testdir();
  await initCa(dir);
  await t.rejects(initCa(dir), new CaError('ca_exists', `${dir} already holds a CA (ca.crt/ca.key); refusing to replace it`));
  await issueCertificate(dir, { name: 'a1', role: 'agent' });
  await t.rejects(
    issueCertificate(dir, { name: 'a1', role: 'agent' }),
    new CaError('cert_exists', `${path.join(dir, 'a1.crt')} or ${path.join(dir, 'a1.key')} already exists; remove both to issue a new one`),
  );
  const empty = t.testdir();
  await t.rejects(issueCertificate(path.join(empty, 'nope'), { name: 'a1', role: 'agent' }), { code: 'ca_missing', message: /run `agentlb ca init .*nope` first/ });
  await writeFile(path.join(empty, 'ca.crt'), 'not a certificate');
  await writeFile(path.join(empty, 'ca.key'), 'not a key');
  await t.rejects(issueCertificate(empty, { name: 'a1', role: 'agent' }), { code: 'ca_unreadable', message: /is not a PEM certificate and RSA key/ });
  for (const name of ['', '-x', 'a/b', '../up', 'ca', 'x'.repeat(129), 'sp ace']) {
    await t.rejects(issueCertificate(dir, { name, role: 'agent' }), { code: 'bad_name' }, JSON.stringify(name));
  }
});

t.test('SANs as written on the command line', async (t) => {
  const cases: [string, unknown][] = [
    ['DNS:a.example', { type: 'DNS', value: 'a.example' }],
    ['dns:*.example', { type: 'DNS', value: '*.example' }],
    ['IP:10.1.2.3', { type: 'IP', value: '10.1.2.3' }],
    ['IP:fe80::1', { type: 'IP', value: 'fe80::1' }],
    ['URI:urn:agentlb:h1', { type: 'URI', value: 'urn:agentlb:h1' }],
    ['192.168.0.1', { type: 'IP', value: '192.168.0.1' }],
    ['host-1', { type: 'DNS', value: 'host-1' }],
  ];
  for (const [text, expected] of cases) t.same(parseSan(text), expected, text);
  t.same(parseSan('spiffe://x/y'), new SanError('"spiffe://x/y" is not a DNS name'), 'a bare URI needs URI:');
  t.same(parseSan('IP:nope'), new SanError('"nope" is not an IP address'));
  t.same(parseSan('URI:no scheme'), new SanError('"no scheme" is not a URI (scheme:rest)'));
  t.same(parseSan('DNS:-bad-'), new SanError('"-bad-" is not a DNS name'));
});

const cli = (args: string[]) => runCliInProcess(args);

t.test('the command: two steps for a server and an agent certificate', async (t) => {
  const dir = path.join(t.testdir(), 'pki');
  t.same(await cli(['ca', 'init', dir]), {
    code: 0,
    out: `CA created in ${dir}\n  certificate: ${dir}/ca.crt\n  key:         ${dir}/ca.key (mode 0600)\n`,
    err: '',
  });
  const server = await cli(['ca', 'issue', dir, '--server', '--name', 'localhost', '--san', '127.0.0.1', '--days', '30']);
  t.same(server, {
    code: 0,
    out: `server certificate for localhost issued by the CA in ${dir}\n  certificate: ${dir}/localhost.crt\n  key:         ${dir}/localhost.key (mode 0600)\n`,
    err: '',
  });
  t.equal((await x509(`${dir}/localhost.crt`)).subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
  t.equal((await cli(['ca', 'issue', dir, '--name', 'h1'])).out.split('\n')[0], `agent certificate for h1 issued by the CA in ${dir}`);
  t.same(await cli(['ca', 'init', dir]), { code: 1, out: '', err: `agentlb ca: ${dir} already holds a CA (ca.crt/ca.key); refusing to replace it\n` });
});

t.test('bad command lines exit 2 naming the problem', async (t) => {
  const usage = (message: string) => ({ code: 2, out: '', err: `agentlb ca: ${message}\nRun \`agentlb ca --help\` for usage.\n` });
  const dir = t.testdir();
  const cases: [string[], string][] = [
    [['ca'], 'missing action: init, issue or revoke'],
    [['ca', 'make', dir], 'unknown action "make" (expected init, issue or revoke)'],
    [['ca', 'init'], 'ca init needs the CA directory'],
    [['ca', 'init', dir, 'extra'], 'unexpected argument "extra"'],
    [['ca', 'init', dir, '--name', 'x'], '--name is for ca issue, not ca init'],
    [['ca', 'issue', dir], 'ca issue needs --name NAME'],
    [['ca', 'issue', dir, '--name', 'a b'], '--name: name "a b" must be 1..128 of A-Z a-z 0-9 . _ : - starting with a letter or digit, and not "ca"'],
    [['ca', 'issue', dir, '--name', 'h', '--server', '--agent'], '--server and --agent exclude each other'],
    [['ca', 'issue', dir, '--name', 'h', '--san', 'IP:x'], '--san: "x" is not an IP address'],
    [['ca', 'issue', dir, '--name', 'h', '--days', '0'], '--days must be an integer from 1 to 36500, got "0"'],
    [['ca', 'init', dir, '--bogus'], "Unknown option '--bogus'"],
  ];
  for (const [args, message] of cases) t.same(await cli(args), usage(message), args.join(' '));
  const help = await cli(['ca', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /^Usage: agentlb ca init DIR/);
});
