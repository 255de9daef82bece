/**
 * The server's side of enrolment (`--ca-dir`), with scripted TLS clients: a certificate request
 * sent with the token is signed and comes back in welcome.certificate; the certificate then
 * admits its guid; trust on first enrolment refuses a second enrolment of that guid with the
 * token alone; a renewal presented with the current certificate is signed; bad requests are
 * refused naming why; a server without --ca-dir ignores hello.csr.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { nextMessage } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION, type ServerMessage } from '../../src/protocol/messages';
import { createCsr, generateRsaKey, type KeyPair } from '../../src/security/x509-async';
import { runCliInProcess } from '../helpers/cli';
import { api, startTestServer, TEST_TOKEN } from '../helpers/server';
import { connectTls, listenerTls, makePki, type Pem, type Pki } from './pki';

let pki: Pki;
let keys: KeyPair[];
t.before(async () => {
  pki = await makePki(t.testdir());
  keys = await Promise.all([generateRsaKey(), generateRsaKey()]);
});

const TOKEN = 'enrolment-token-0123456789';

async function enrol(port: number, guid: string, csr: string, options: { token?: string; client?: Pem } = {}): Promise<ServerMessage> {
  const sock = await connectTls(port, pki, options.client);
  sock.send({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: [], algorithm: '', csr, ...(options.token === undefined ? {} : { token: options.token }) });
  const reply = await nextMessage(sock, 10_000);
  sock.destroy();
  return reply;
}

const refused = (message: string) => ({ type: 'error', code: 'unauthorized', message });

t.test('enrol with the token, then connect with the certificate; the token alone cannot enrol the guid again', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir, agentToken: TOKEN, certDays: 30 } });
  const welcome = await enrol(server.agentPort, 'new-agent', await createCsr('new-agent', keys[0]!), { token: TOKEN });
  t.match(welcome, { type: 'welcome', hostId: 1, certificate: /^-----BEGIN CERTIFICATE-----/ });
  const pem = (welcome as { certificate: string }).certificate;
  const cert = new X509Certificate(pem);
  t.equal(cert.subject, 'CN=new-agent');
  t.ok(cert.verify(new X509Certificate(pki.ca).publicKey), 'signed by the CA in --ca-dir');
  t.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(keys[0]!.privateKeyPem)), 'for the key the agent made');
  const lifetimeDays = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  t.ok(Math.abs(lifetimeDays - 30) < 0.01, `--cert-days 30 (${lifetimeDays} days, back-dated 5 minutes)`);

  const client = { cert: Buffer.from(pem), key: Buffer.from(keys[0]!.privateKeyPem) };
  const sock = await connectTls(server.agentPort, pki, client);
  sock.send({ type: 'hello', version: PROTOCOL_VERSION, guid: 'new-agent', hosts: [], algorithm: '', token: TOKEN });
  t.match(await nextMessage(sock, 10_000), { type: 'welcome', hostId: 1 }, 'served with its certificate');
  sock.destroy();

  t.same(
    await enrol(server.agentPort, 'new-agent', await createCsr('new-agent', keys[1]!), { token: TOKEN }),
    refused('guid "new-agent" holds a certificate: connect with it (tls.cert and tls.key), or have an operator run `agentlb hosts reissue` for it'),
    'a second agent with the same token cannot enrol that guid',
  );

  const renewed = await enrol(server.agentPort, 'new-agent', await createCsr('new-agent', keys[1]!), { token: TOKEN, client });
  t.match(renewed, { type: 'welcome', certificate: /^-----BEGIN CERTIFICATE-----/ }, 'renewal: presented with the current certificate');
  t.not(new X509Certificate((renewed as { certificate: string }).certificate).serialNumber, cert.serialNumber, 'a new certificate');
});

t.test('bad requests are refused naming why', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir, agentToken: TOKEN } });
  t.same(await enrol(server.agentPort, 'g1', await createCsr('someone-else', keys[0]!), { token: TOKEN }), refused('hello.csr names "someone-else", not the guid "g1"'));
  t.match(await enrol(server.agentPort, 'g1', 'not a request', { token: TOKEN }), { type: 'error', code: 'unauthorized', message: /^hello\.csr is not a PEM PKCS#10 request with an RSA key: / });
  t.same(await enrol(server.agentPort, 'g1', await createCsr('g1', keys[0]!)), refused('this server requires an enrolment token'), 'no token');
  const tampered = (await createCsr('g1', keys[0]!)).replace(/\n(.{8})/, (_, eight: string) => `\n${eight.split('').reverse().join('')}`);
  t.match(await enrol(server.agentPort, 'g1', tampered, { token: TOKEN }), { type: 'error', code: 'unauthorized' }, 'a damaged request');
});

t.test('a server with --ca-dir but no enrolment token enrols nobody; without --ca-dir hello.csr is ignored', async (t) => {
  const noToken = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir } });
  t.same(
    await enrol(noToken.agentPort, 'g2', await createCsr('g2', keys[0]!)),
    refused('this server enrols agents only with an enrolment token, and none is configured (--agent-token)'),
  );
  const plain = await startTestServer(t, { security: { tls: listenerTls(pki, false, false), agentToken: TOKEN } });
  const welcome = await enrol(plain.agentPort, 'g3', await createCsr('g3', keys[0]!), { token: TOKEN });
  t.match(welcome, { type: 'welcome' });
  t.notOk('certificate' in welcome, 'no certificate: served without one');
});

t.test('hosts reissue: the guid may enrol again with the token; unknown hosts and servers without certificates say so', async (t) => {
  const server = await startTestServer(t, { security: { tls: listenerTls(pki, false), caDir: pki.dir, agentToken: TOKEN } });
  t.match(await enrol(server.agentPort, 'lost-key', await createCsr('lost-key', keys[0]!), { token: TOKEN }), { type: 'welcome', hostId: 1 });
  t.match(await enrol(server.agentPort, 'lost-key', await createCsr('lost-key', keys[1]!), { token: TOKEN }), { type: 'error', code: 'unauthorized' });
  const cli = (args: string[]) => runCliInProcess(['hosts', ...args, '--admin', `127.0.0.1:${server.adminAddress.port}`, '--token', TEST_TOKEN]);
  t.same(await cli(['reissue', '1']), { code: 0, out: 'host 1 (lost-key): its certificate is forgotten; the next agent with the enrolment token may enrol it\n', err: '' });
  t.match(await enrol(server.agentPort, 'lost-key', await createCsr('lost-key', keys[1]!), { token: TOKEN }), { type: 'welcome', hostId: 1, certificate: /BEGIN CERTIFICATE/ }, 'enrolled again, same host id');
  t.same(await cli(['reissue', '9']), { code: 1, out: '', err: 'agentlb hosts: POST /api/hosts/9/reissue failed (HTTP 404): no host 9\n' });
  const plain = await startTestServer(t, { security: { tls: listenerTls(pki, false, false) } });
  const none = await api(plain, 'POST', '/api/hosts/1/reissue');
  t.same([none.status, none.body], [409, { error: 'this server keeps no agent certificates (start it with --tls-ca or --ca-dir)' }]);
});
