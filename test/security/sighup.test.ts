/**
 * SIGHUP on a real `agentlb server` process (the in-process reload is pinned by revoke.test.ts):
 * agents connected over TLS, the server certificate and key replaced on disk, `kill -HUP`:
 *
 * - the server logs `reloaded` (changed: TLS certificate), every agent keeps its connection
 *   (the same socket is still served: it gets the server's next ping, and the server logged no
 *   disconnection), and a new TLS handshake sees the NEW certificate (SHA-256 fingerprints);
 * - a bad reload (a key that is not the certificate's) keeps the certificate in use and the
 *   log says why, and again no agent is dropped.
 *
 * Waits are on log lines and frames, never on sleeps.
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import type { FramedSocket } from '../../src/protocol/framed-socket';
import { issueCertificate } from '../../src/security/ca';
import { startServerProcess, type LogLine } from '../helpers/cli';
import { TEST_TOKEN } from '../helpers/server';
import { connectTls, helloOver, makePki, type Pem, type Pki } from './pki';

const WAIT_MS = 30_000;

let pki: Pki;
t.before(async () => {
  pki = await makePki(t.testdir());
});

const fingerprintOf = (sock: FramedSocket): string => (sock.socket as TLSSocket).getPeerCertificate().fingerprint256;

/** Welcomed, and answering the server's pings from then on (as an agent does). */
async function agent(port: number, guid: string, client: Pem | undefined): Promise<FramedSocket> {
  const sock = await connectTls(port, pki, client);
  const answer = await helloOver(sock, guid);
  if (answer.type !== 'welcome') throw new Error(`${guid}: expected a welcome, got ${JSON.stringify(answer)}`);
  sock.on('message', (message) => {
    if (message.type === 'ping') sock.send({ type: 'pong' });
  });
  return sock;
}

/** The next ping on `sock`: the server is still serving that very connection. */
function nextPing(sock: FramedSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ping within ${WAIT_MS} ms`)), WAIT_MS);
    const onMessage = (message: { type: string }): void => {
      if (message.type !== 'ping') return;
      clearTimeout(timer);
      sock.off('message', onMessage);
      resolve();
    };
    sock.on('message', onMessage);
  });
}

t.test('kill -HUP: a new server certificate for new handshakes, every agent kept; a bad key keeps the old one', async (t) => {
  const dir = t.testdir();
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  await copyFile(path.join(pki.dir, 'localhost.crt'), certFile);
  await copyFile(path.join(pki.dir, 'localhost.key'), keyFile);
  const server = await startServerProcess(t, [
    '--tls-cert', certFile,
    '--tls-key', keyFile,
    '--tls-ca', pki.caFile,
    '--data-dir', path.join(dir, 'data'),
    '--admin-token', TEST_TOKEN,
    // Pings every second: a connection the server still serves shows it within one.
    '--ping-interval', '1',
    '--max-missed-pings', '30',
  ]);
  const reloads = (): LogLine[] => server.logs.filter((line) => line.event === 'reloaded');
  const nextReload = (count: number): Promise<LogLine> => server.waitForLog((line) => line.event === 'reloaded' && reloads().indexOf(line) === count - 1);

  const agents = [await agent(server.agentPort, 'agent-1', pki.agent), await agent(server.agentPort, 'agent-2', pki.agentWithSans), await agent(server.agentPort, 'plain-agent', undefined)];
  const oldFingerprint = new X509Certificate(pki.server.cert).fingerprint256;
  for (const sock of agents) t.equal(fingerprintOf(sock), oldFingerprint, 'connected with the first certificate');

  // Renewed in place, as an operator (or certbot) would, then the signal.
  const renewed = await issueCertificate(pki.dir, { name: '127.0.0.1', role: 'server', days: 30 });
  await copyFile(renewed.certFile, certFile);
  await copyFile(renewed.keyFile, keyFile);
  const newFingerprint = new X509Certificate(await readFile(renewed.certFile)).fingerprint256;
  t.not(newFingerprint, oldFingerprint);
  server.child.kill('SIGHUP');
  t.match(await nextReload(1), { level: 30, outcome: 'ok', changed: ['TLS certificate'], kept: [], msg: 'reloaded (changed: TLS certificate)' });
  await Promise.all(agents.map(nextPing));
  for (const sock of agents) t.notOk(sock.isClosed, 'the same connection, still served after the reload');
  const fresh = await agent(server.agentPort, 'agent-3', undefined);
  t.equal(fingerprintOf(fresh), newFingerprint, 'a new handshake sees the new certificate');
  agents.push(fresh);

  // A key of another certificate: the reload keeps what is in use and says why.
  await copyFile(path.join(pki.dir, 'agent-1.key'), keyFile);
  server.child.kill('SIGHUP');
  const failed = await nextReload(2);
  t.match(failed, { outcome: 'failed', kept: ['TLS certificate, key, CA and CRL'], msg: 'reloaded in part: kept TLS certificate, key, CA and CRL' });
  t.match(server.logs.find((line) => line.event === 'reload_failed'), {
    level: 40,
    part: 'TLS certificate, key, CA and CRL',
    reason: new RegExp(`^unusable TLS files \\(${certFile}, ${keyFile}, ${pki.caFile}\\): .*key values mismatch`),
  });
  await Promise.all(agents.map(nextPing));
  const afterBad = await agent(server.agentPort, 'agent-4', undefined);
  t.equal(fingerprintOf(afterBad), newFingerprint, 'still the certificate of the last good reload');
  agents.push(afterBad);
  for (const sock of agents) t.notOk(sock.isClosed, 'no agent dropped by either reload');
  t.equal(server.logs.filter((line) => line.event === 'disconnected').length, 0, 'the server logged no disconnection');
  t.equal(server.child.exitCode, null, 'SIGHUP did not end the process');
  for (const sock of agents) sock.destroy();
});
