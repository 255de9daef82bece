/**
 * Revocation and reload on one server over real TLS (the three-server cluster case is
 * test/cluster/revoke-cluster.test.ts, SIGHUP on a real process test/security/sighup.test.ts):
 *
 * - `agentlb ca revoke` writes DIR/ca.crl, a CRL signed by the CA that OpenSSL's own parser
 *   would take (checked here with our parser and the CA's key, and by the agent-facing
 *   behaviour); every refusal of the command is asserted exactly;
 * - a revoked certificate is refused right after the TLS handshake with `error unauthorized`
 *   "certificate revoked", and an agent connected with it is dropped with the same error
 *   when the server reloads the list, while another agent stays;
 * - a reload with a new server certificate keeps connected agents and new handshakes get
 *   the new one; a bad reload (a key of another certificate) keeps the old certificate.
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { Registry } from 'prom-client';
import { runCliInProcess } from '../helpers/cli';
import { captureLogger } from '../helpers/log';
import { nextEvent, startTestServer, TEST_TOKEN } from '../helpers/server';
import type { ServerMessage } from '../../src/protocol/messages';
import { nextMessage, type FramedSocket } from '../../src/protocol/framed-socket';
import { initCa, issueCertificate } from '../../src/security/ca';
import { readCaDirCrl, revokeInCaDir } from '../../src/security/ca-ledger';
import { loadServerTls, type ServerTlsFiles } from '../../src/security/tls-files';
import { closeError, connectTls, helloOver, makePki, type Pki } from './pki';

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

t.test('ca revoke: every refusal names the bad value; --name and --serial add to a signed CRL', async (t) => {
  const root = t.testdir(); // once: each call makes a new, empty directory
  const dir = path.join(root, 'ca');
  await initCa(dir);
  const issued = await issueCertificate(dir, { name: 'host-1', role: 'agent' });
  const serial = new X509Certificate(await readFile(issued.certFile)).serialNumber;

  t.same(await runCliInProcess(['ca', 'revoke', dir]), {
    code: 2,
    out: '',
    err: 'agentlb ca: ca revoke needs --name NAME or --serial SERIAL\nRun `agentlb ca --help` for usage.\n',
  });
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--name', 'host-1', '--serial', serial]), {
    code: 2,
    out: '',
    err: 'agentlb ca: ca revoke takes --name or --serial, not both\nRun `agentlb ca --help` for usage.\n',
  });
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--serial', 'xyz']), {
    code: 2,
    out: '',
    err: 'agentlb ca: --serial must be a hexadecimal serial number (1 to 128 digits, colons allowed), got "xyz"\nRun `agentlb ca --help` for usage.\n',
  });
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--serial', 'abcdef01']), {
    code: 1,
    out: '',
    err: `agentlb ca: the CA in ${dir} issued no certificate with serial "abcdef01"\n`,
  });
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--name', 'no-such-guid']), {
    code: 1,
    out: '',
    err: `agentlb ca: the CA in ${dir} issued no certificate for "no-such-guid"\n`,
  });
  const missing = path.join(root, 'nothing');
  const noCa = await runCliInProcess(['ca', 'revoke', missing, '--name', 'host-1']);
  t.equal(noCa.code, 1);
  t.match(noCa.err, new RegExp(`^agentlb ca: cannot read the CA in ${missing}: ENOENT.* \\(run \`agentlb ca init ${missing}\` first\\)\\n$`));
  t.same(await runCliInProcess(['ca', 'issue', dir, '--name', 'x', '--serial', '01']), {
    code: 2,
    out: '',
    err: 'agentlb ca: --serial is for ca revoke, not ca issue\nRun `agentlb ca --help` for usage.\n',
  });

  // --store (cluster mode): checked like the server's, never echoing the URL (it may hold a password).
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--name', 'host-1', '--store', 'mysql://u:secret@db/x']), {
    code: 2,
    out: '',
    err: 'agentlb ca: --store must be a postgres:// or postgresql:// URL, got a mysql:// URL\nRun `agentlb ca --help` for usage.\n',
  });
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--name', 'host-1'], { AGENTLB_STORE: 'not a url' }), {
    code: 2,
    out: '',
    err: 'agentlb ca: AGENTLB_STORE must be a URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE\nRun `agentlb ca --help` for usage.\n',
  });
  t.same(await runCliInProcess(['ca', 'issue', dir, '--name', 'x', '--store', 'postgres://db/x']), {
    code: 2,
    out: '',
    err: 'agentlb ca: --store is for ca revoke, not ca issue\nRun `agentlb ca --help` for usage.\n',
  });
  const unreachable = await runCliInProcess(['ca', 'revoke', dir, '--name', 'host-1', '--store', 'postgres://u:secret@127.0.0.1:1/x']);
  t.equal(unreachable.code, 1);
  t.match(unreachable.err, /^agentlb ca: cannot use the cluster store: connect ECONNREFUSED 127\.0\.0\.1:1/);
  t.notMatch(unreachable.err, /secret/, 'the password is not repeated');
  t.equal((await readCaDirCrl(dir)).entries.length, 0, 'nothing revoked when the store cannot be used');

  const lower = serial.toLowerCase().replace(/^0+/, '');
  const notAfter = new Date(JSON.parse((await readFile(path.join(dir, 'issued.log'), 'utf8')).trim()).notAfter as string).toISOString();
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--serial', serial]), {
    code: 0,
    out: `revoked ${lower} (host-1, valid until ${notAfter})\n  revocation list: ${path.join(dir, 'ca.crl')}\n`,
    err: '',
  });
  t.same(await runCliInProcess(['ca', 'revoke', dir, '--name', 'host-1']), {
    code: 0,
    out: `already revoked ${lower} (host-1)\n  revocation list: ${path.join(dir, 'ca.crl')}\n`,
    err: '',
  }, 'revoking again changes nothing and says so');
  await issueCertificate(dir, { name: 'host-2', role: 'agent' });
  t.equal((await runCliInProcess(['ca', 'revoke', dir, '--name', 'host-2'])).code, 0);
  const crl = await readCaDirCrl(dir);
  t.equal(crl.entries.length, 2, 'both listed');
  t.equal(crl.entries[0]!.serial, lower);
  t.equal(crl.number, 2n, 'the CRL number goes up with each new list');

  // A list another CA signed is refused, naming the file.
  const other = path.join(root, 'other');
  await initCa(other);
  await copyFile(path.join(dir, 'ca.crl'), path.join(other, 'ca.crl'));
  await issueCertificate(other, { name: 'host-3', role: 'agent' });
  t.same(await runCliInProcess(['ca', 'revoke', other, '--name', 'host-3']), {
    code: 1,
    out: '',
    err: `agentlb ca: ${path.join(other, 'ca.crl')} is unusable, refusing to replace it: its signature does not verify with the CA certificate (signed by another CA, or altered)\n`,
  });
});

function serverFiles(pki: Pki, dir: string): ServerTlsFiles {
  return {
    certFile: path.join(dir, 'server.crt'),
    keyFile: path.join(dir, 'server.key'),
    caFile: pki.caFile,
    requireClientCert: false,
    crlFile: path.join(pki.dir, 'ca.crl'),
    crlOptional: true,
  };
}

/** The error frame the server ends with (the hosts frames before it skipped). */
async function errorFrame(sock: FramedSocket): Promise<ServerMessage> {
  for (;;) {
    const message = await nextMessage(sock, 30_000);
    if (message.type === 'error') return message;
  }
}

async function welcomed(sock: FramedSocket, guid: string): Promise<void> {
  const answer = await helloOver(sock, guid);
  if (answer.type !== 'welcome') throw new Error(`expected a welcome, got ${JSON.stringify(answer)}`);
}

t.test('a revoked certificate is refused at the handshake and its connected agent dropped at reload', async (t) => {
  const dir = t.testdir();
  await copyFile(path.join(pki.dir, 'localhost.crt'), path.join(dir, 'server.crt'));
  await copyFile(path.join(pki.dir, 'localhost.key'), path.join(dir, 'server.key'));
  const files = serverFiles(pki, dir);
  const registry = new Registry();
  const { logger, lines } = captureLogger();
  const server = await startTestServer(t, { metricsRegistry: registry, logger, dataDir: path.join(dir, 'data'), security: { tls: await loadServerTls(files), tlsFiles: files } });
  const reread = async () => ({ tlsFiles: files, agentToken: undefined, adminToken: TEST_TOKEN });

  const revokedAgent = await connectTls(server.agentPort, pki, pki.agent);
  await welcomed(revokedAgent, 'agent-1');
  const otherAgent = await connectTls(server.agentPort, pki, pki.agentWithSans);
  await welcomed(otherAgent, 'agent-2');
  const dropped = errorFrame(revokedAgent);
  const gone = nextEvent(server.events, 'disconnected', (e) => e.guid === 'agent-1');

  await revokeInCaDir(pki.dir, { name: 'agent-1' });
  t.equal(await server.reload(reread), 'ok', JSON.stringify(lines.filter((line) => line.level >= 40)));
  t.match(lines.find((line) => line.event === 'certificates_revoked'), {
    level: 40,
    source: 'crl',
    count: 1,
    dropped: 1,
    msg: '1 certificate(s) revoked (revocation list); 1 agent(s) connected with them dropped',
  });
  t.same(await dropped, { type: 'error', code: 'unauthorized', message: 'certificate revoked' }, 'told why, then closed');
  t.match(await gone, { reason: 'unauthorized', guid: 'agent-1' });
  await closeError(revokedAgent);
  t.notOk(otherAgent.isClosed, 'the agent with another certificate stays');
  t.equal(server.agentCount, 1);

  const again = await connectTls(server.agentPort, pki, pki.agent);
  t.same(await nextMessage(again, 30_000), { type: 'error', code: 'unauthorized', message: 'certificate revoked' }, 'refused before any frame is read');
  const metrics = await registry.metrics();
  t.match(metrics, /^agentlb_certificate_revocations 1$/m);
  t.match(metrics, /^agentlb_reloads_total\{outcome="ok"\} 1$/m);
  t.match(metrics, /^agentlb_reloads_total\{outcome="failed"\} 0$/m);
  t.match(metrics, /^agentlb_certificates_issued_total\{kind="enrolment"\} 0$/m);
  otherAgent.destroy();
});

t.test('a reload with a new server certificate keeps agents connected; a bad one keeps the old certificate', async (t) => {
  const dir = t.testdir();
  await copyFile(path.join(pki.dir, 'localhost.crt'), path.join(dir, 'server.crt'));
  await copyFile(path.join(pki.dir, 'localhost.key'), path.join(dir, 'server.key'));
  const files = serverFiles(pki, dir);
  const registry = new Registry();
  const server = await startTestServer(t, { metricsRegistry: registry, dataDir: path.join(dir, 'data'), security: { tls: await loadServerTls(files), tlsFiles: files } });
  const reread = async () => ({ tlsFiles: files, agentToken: undefined, adminToken: TEST_TOKEN });
  const serialOf = (sock: FramedSocket): string => (sock.socket as TLSSocket).getPeerCertificate().serialNumber;

  const before = await connectTls(server.agentPort, pki, pki.agentWithSans);
  await welcomed(before, 'agent-2');
  const oldSerial = serialOf(before);
  const expiryBefore = /^agentlb_server_certificate_expiry_seconds (\d+)$/m.exec(await registry.metrics())?.[1];
  t.ok(Number(expiryBefore) > Date.now() / 1000, 'the expiry gauge holds the certificate notAfter');

  // The certificate renewed in place, as an operator (or certbot) would.
  const renewed = await issueCertificate(pki.dir, { name: '127.0.0.1', role: 'server', days: 30 });
  await copyFile(renewed.certFile, files.certFile);
  await copyFile(renewed.keyFile, files.keyFile);
  t.equal(await server.reload(reread), 'ok');
  const after = await connectTls(server.agentPort, pki);
  await welcomed(after, 'plain-agent');
  t.not(serialOf(after), oldSerial, 'a new handshake gets the new certificate');
  t.notOk(before.isClosed, 'the agent connected before the reload is still connected');
  t.equal(server.agentCount, 2);
  const expiryAfter = /^agentlb_server_certificate_expiry_seconds (\d+)$/m.exec(await registry.metrics())?.[1];
  t.ok(Number(expiryAfter) < Number(expiryBefore), 'the expiry gauge follows the new certificate (30 days)');

  // A key of another certificate: refused, the certificate in use kept.
  await copyFile(path.join(pki.dir, 'agent-1.key'), files.keyFile);
  t.equal(await server.reload(reread), 'failed');
  const kept = await connectTls(server.agentPort, pki);
  await welcomed(kept, 'plain-agent-2');
  t.equal(serialOf(kept), serialOf(after), 'still the certificate of the last good reload');
  // Bad PEM: the same.
  await writeFile(files.certFile, 'not a certificate\n');
  t.equal(await server.reload(reread), 'failed');
  t.match(await registry.metrics(), /^agentlb_reloads_total\{outcome="failed"\} 2$/m);
  t.notOk(before.isClosed || after.isClosed || kept.isClosed, 'no agent was dropped by any reload');
  for (const sock of [before, after, kept]) sock.destroy();
});
