/**
 * Certificates in cluster mode (issue 17): three `agentlb server` processes on one real
 * PostgreSQL, each with its own copy of the CA (--ca-dir) and the enrolment token, and agents
 * over real TLS (scripted clients: the frames are asserted exactly).
 *
 * - A guid enrolled on one server is served with its certificate by the others, and the token
 *   alone cannot enrol it again anywhere; two servers asked to enrol one guid AT ONCE sign for
 *   exactly one of them (PostgreSQL's INSERT ... ON CONFLICT decides); `hosts reissue` through
 *   one server lets the token enrol it again on another.
 * - `agentlb ca revoke DIR --store URL --name GUID`, run as a real process on an operator's copy
 *   of the CA that issued nothing itself (so the serial can only come from the store's ledger),
 *   reaches every server at once through NOTIFY: each drops the agent connected with the
 *   revoked certificate (`error unauthorized` "certificate revoked") and refuses it on new
 *   handshakes, while the other agent stays connected everywhere.
 * - A revocation whose announcement is lost (written with triggers off, then every LISTEN
 *   connection terminated) is found by the store's resync after the reconnect, and applied
 *   the same way.
 *
 * Waits are on frames and log lines, never on sleeps.
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import { nextMessage, type FramedSocket } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION, type ServerMessage } from '../../src/protocol/messages';
import { initCa, issueCertificate } from '../../src/security/ca';
import { createCsr, generateRsaKey, type KeyPair } from '../../src/security/x509-async';
import { runCliProcess } from '../helpers/cli';
import { pollUntil, sql } from '../helpers/pg-store-fixtures';
import { api } from '../helpers/server';
import { closeError, connectTls, type Pem, type Pki } from '../security/pki';
import { CROSS_SERVER_MS, knowsHosts, startMemberProcess, type MemberProcess } from './cluster-helpers';

const TOKEN = 'enrolment-token-0123456789';
/** Frames and log lines at load 8: generous, returned as soon as they come. */
const WAIT_MS = 30_000;
const REVOKED = { type: 'error', code: 'unauthorized', message: 'certificate revoked' };
/**
 * The refusal of an enrolled guid: at the store's claim, or (once the winner's `certified`
 * announcement has arrived, which no event tells a test) at the hello, from memory.
 */
const ALREADY = (guid: string): RegExp =>
  new RegExp(
    `^guid "${guid}" (is already enrolled: renew with its current certificate|holds a certificate: connect with it \\(tls\\.cert and tls\\.key\\)), or have an operator run \`agentlb hosts reissue\` for it$`,
  );

/** A copy of the CA (ca.crt, ca.key) in its own directory, as each machine would hold it. */
async function copyCa(from: string, to: string): Promise<string> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  await Promise.all(['ca.crt', 'ca.key'].map((file) => copyFile(path.join(from, file), path.join(to, file))));
  return to;
}

function hello(sock: FramedSocket, guid: string, csr?: string): Promise<ServerMessage> {
  sock.send({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: [], algorithm: '', token: TOKEN, ...(csr === undefined ? {} : { csr }) });
  return nextMessage(sock, WAIT_MS);
}

/** Enrols `guid` on `server` with the token alone; the server's answer. */
async function enrol(pki: Pki, server: MemberProcess, guid: string, key: KeyPair): Promise<ServerMessage> {
  const sock = await connectTls(server.agentPort, pki);
  try {
    return await hello(sock, guid, await createCsr(guid, key));
  } finally {
    sock.destroy();
  }
}

/** Connected and welcomed with `client`'s certificate. */
async function connectAs(pki: Pki, server: MemberProcess, guid: string, client: Pem): Promise<FramedSocket> {
  const sock = await connectTls(server.agentPort, pki, client);
  const answer = await hello(sock, guid);
  if (answer.type !== 'welcome') throw new Error(`${guid} on ${server.name}: expected a welcome, got ${JSON.stringify(answer)}`);
  return sock;
}

/** The error frame a connection ends with (hosts frames before it skipped). */
async function errorFrame(sock: FramedSocket): Promise<ServerMessage> {
  for (;;) {
    const message = await nextMessage(sock, WAIT_MS);
    if (message.type === 'error') return message;
  }
}

function certificateOf(welcome: ServerMessage, key: KeyPair): Pem {
  const pem = (welcome as { certificate?: string }).certificate;
  if (pem === undefined) throw new Error(`expected a certificate, got ${JSON.stringify(welcome)}`);
  return { cert: Buffer.from(pem), key: Buffer.from(key.privateKeyPem) };
}

const serialOf = (pem: Pem): string => new X509Certificate(pem.cert).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');

t.test('three servers share enrolments and revocations through PostgreSQL', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const root = t.testdir();
  const caDir = path.join(root, 'ca');
  await initCa(caDir);
  const server = await issueCertificate(caDir, { name: 'localhost', role: 'server', sans: [{ type: 'IP', value: '127.0.0.1' }] });
  // What connectTls needs of a Pki: the CA to trust.
  const pki = { caFile: path.join(caDir, 'ca.crt'), ca: await readFile(path.join(caDir, 'ca.crt')) } as Pki;
  const keys = await Promise.all([generateRsaKey(), generateRsaKey(), generateRsaKey(), generateRsaKey()]);
  const members = await Promise.all(
    ['m1', 'm2', 'm3'].map(async (name) =>
      startMemberProcess(t, pg.url, `${name}.example:8250`, [
        '--tls-cert', server.certFile,
        '--tls-key', server.keyFile,
        '--tls-ca', pki.caFile,
        '--ca-dir', await copyCa(caDir, path.join(root, name)),
        '--agent-token', TOKEN,
        '--data-dir', path.join(root, `${name}-data`),
      ]),
    ),
  );
  const [m1, m2, m3] = members as [MemberProcess, MemberProcess, MemberProcess];

  const revokedWelcome = await enrol(pki, m1, 'agent-r', keys[0]!);
  t.match(revokedWelcome, { type: 'welcome', certificate: /^-----BEGIN CERTIFICATE-----/ }, 'agent-r enrolled on m1');
  const keptWelcome = await enrol(pki, m2, 'agent-k', keys[1]!);
  t.match(keptWelcome, { type: 'welcome', certificate: /^-----BEGIN CERTIFICATE-----/ }, 'agent-k enrolled on m2');
  const revokedCert = certificateOf(revokedWelcome, keys[0]!);
  const keptCert = certificateOf(keptWelcome, keys[1]!);

  await t.test('the token alone cannot enrol a guid another server enrolled', async (t) => {
    t.match(await enrol(pki, m3, 'agent-r', keys[2]!), { type: 'error', code: 'unauthorized', message: ALREADY('agent-r') }, 'refused on m3: PostgreSQL holds the guid');
  });

  await t.test('two servers enrolling one guid at once: exactly one signs', async (t) => {
    const answers = await Promise.all([enrol(pki, m2, 'agent-twin', keys[2]!), enrol(pki, m3, 'agent-twin', keys[3]!)]);
    const won = answers.filter((answer) => answer.type === 'welcome');
    const lost = answers.filter((answer) => answer.type !== 'welcome');
    t.equal(won.length, 1, `one welcome: ${JSON.stringify(answers.map((a) => a.type))}`);
    t.equal(lost.length, 1);
    t.match(lost[0], {
      type: 'error',
      code: 'unauthorized',
      message: ALREADY('agent-twin'),
    });
    const winner = certificateOf(won[0]!, keys[answers.indexOf(won[0]!) + 2]!);
    t.same(await sql(pg.url, 'SELECT guid, serial FROM certified_guids WHERE guid = $1', ['agent-twin']), [{ guid: 'agent-twin', serial: serialOf(winner) }], 'the store holds the winner');

    // The operator's reset on one server lets the token enrol the guid again on another.
    const hostId = (won[0] as { hostId: number }).hostId;
    // m1 learns of the host m2 or m3 registered through PostgreSQL's notification, which no event
    // tells a test either: under load it came after the reissue (404 "no host 3").
    t.ok(await knowsHosts(m1, ['agent-twin'], CROSS_SERVER_MS), 'm1 knows the host');
    t.same((await api(m1, 'POST', `/api/hosts/${hostId}/reissue`)).body, { id: hostId, guid: 'agent-twin', hadCertificate: true }, 'reissue through m1');
    t.same(await sql(pg.url, 'SELECT serial FROM certified_guids WHERE guid = $1', ['agent-twin']), [{ serial: null }], 'the store holds no certificate for it');
    // m3 learns of the reset through its announcement, which no event tells a test: until then it refuses.
    let again: ServerMessage | undefined;
    t.ok(await pollUntil(async () => (again = await enrol(pki, m3, 'agent-twin', keys[3]!)).type === 'welcome'), `enrolled again on m3: ${JSON.stringify(again)}`);
  });

  // Both agents connected to every server with their certificates (enrolled elsewhere: the book is shared).
  const revokedSockets = await Promise.all(members.map((member) => connectAs(pki, member, 'agent-r', revokedCert)));
  const keptSockets = await Promise.all(members.map((member) => connectAs(pki, member, 'agent-k', keptCert)));

  await t.test('ca revoke --store: every server drops and refuses the certificate at once', async (t) => {
    const dropped = revokedSockets.map(errorFrame);
    const logged = members.map((member) => member.process.waitForLog((line) => line.event === 'certificates_revoked'));
    // The operator's copy of the CA signed nothing: the serial is found in the store's ledger.
    const operatorDir = await copyCa(caDir, path.join(root, 'operator'));
    const result = await runCliProcess(['ca', 'revoke', operatorDir, '--store', pg.url, '--name', 'agent-r']);
    // notAfter as the signing server recorded it (milliseconds; the certificate holds seconds).
    const [{ notAfter }] = await sql<{ notAfter: Date }>(pg.url, 'SELECT not_after AS "notAfter" FROM issued_certificates WHERE guid = $1', ['agent-r']);
    t.same(result, {
      code: 0,
      stdout: `revoked ${serialOf(revokedCert)} (agent-r, valid until ${notAfter!.toISOString()})\n  revocation list: ${path.join(operatorDir, 'ca.crl')}\n  cluster store: 1 revocation(s) recorded; every server refuses them now\n`,
      stderr: '',
    });
    t.same(await Promise.all(dropped), [REVOKED, REVOKED, REVOKED], 'told why on every server');
    for (const [i, line] of (await Promise.all(logged)).entries()) {
      t.match(line, { level: 40, source: 'store', count: 1, dropped: 1, serials: [serialOf(revokedCert)] }, `${members[i]!.name} logged it`);
    }
    await Promise.all(revokedSockets.map(closeError));
    for (const [i, sock] of keptSockets.entries()) t.notOk(sock.isClosed, `agent-k stays connected to ${members[i]!.name}`);
    for (const member of members) {
      const again = await connectTls(member.agentPort, pki, revokedCert);
      t.same(await nextMessage(again, WAIT_MS), REVOKED, `${member.name} refuses a new handshake with it`);
      again.destroy();
    }
    t.same(await runCliProcess(['ca', 'revoke', operatorDir, '--store', pg.url, '--name', 'agent-r']), {
      code: 0,
      stdout: `already revoked ${serialOf(revokedCert)} (agent-r)\n  revocation list: ${path.join(operatorDir, 'ca.crl')}\n  cluster store: held every one already\n`,
      stderr: '',
    }, 'revoking again changes nothing and says so');
  });

  await t.test('a revocation whose announcement was lost is found by the resync after LISTEN comes back', async (t) => {
    const dropped = keptSockets.map(errorFrame);
    const logged = members.map((member) =>
      member.process.waitForLog((line) => line.event === 'certificates_revoked' && (line['serials'] as string[]).includes(serialOf(keptCert))),
    );
    // Triggers off for this session: the row is committed and nobody is told.
    await sql(
      pg.url,
      `DO $$ BEGIN
         SET LOCAL session_replication_role = replica;
         INSERT INTO revocations (serial, guid, reason) VALUES ('${serialOf(keptCert)}', 'agent-k', 'test: announcement lost');
       END $$`,
    );
    const resynced = members.map((member) => member.process.waitForLog((line) => line.event === 'store_resync'));
    const [{ killed }] = await sql<{ killed: number }>(pg.url, `SELECT count(pg_terminate_backend(pid))::int AS killed FROM pg_stat_activity WHERE application_name LIKE 'agentlb-listen/%' AND datname = current_database()`);
    t.equal(killed, 3, 'every server lost its LISTEN connection');
    await Promise.all(resynced);
    t.same(await Promise.all(dropped), [REVOKED, REVOKED, REVOKED], 'dropped on every server after the resync');
    for (const line of await Promise.all(logged)) t.match(line, { source: 'store', dropped: 1 });
    for (const sock of keptSockets) await closeError(sock);
  });
  for (const sock of [...revokedSockets, ...keptSockets]) sock.destroy();
});
