/**
 * The pieces of agent authentication as units: the enrolment token check, the names a
 * certificate vouches for (Node's subjectaltname string, quoting included), the server's TLS
 * flags and the PEM files they name.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { UsageError } from '../../src/cli/args';
import { refuseToken } from '../../src/security/agent-auth';
import { certificateNames, parseSubjectAltName } from '../../src/security/identity';
import { parseSecurityFlags } from '../../src/cli/server-flags';
import { loadAgentTls, loadServerTls, TlsFilesError } from '../../src/security/tls-files';
import { makePki } from './pki';

t.test('the enrolment token', async (t) => {
  t.equal(refuseToken(undefined, undefined), undefined, 'none required');
  t.equal(refuseToken(undefined, 'anything'), undefined, 'none required: a token sent is ignored');
  t.equal(refuseToken('s3cret', undefined), 'this server requires an enrolment token');
  t.equal(refuseToken('s3cret', 's3cre'), 'wrong enrolment token', 'a prefix');
  t.equal(refuseToken('s3cret', 's3cret!'), 'wrong enrolment token', 'longer');
  t.equal(refuseToken('s3cret', 'S3CRET'), 'wrong enrolment token', 'case matters');
  t.equal(refuseToken('s3cret', 's3cret'), undefined);
});

t.test("Node's subjectaltname string, quoted values included", async (t) => {
  const cases: [string, { type: string; value: string }[]][] = [
    ['', []],
    ['DNS:a.example', [{ type: 'DNS', value: 'a.example' }]],
    [
      'DNS:a, URI:urn:agentlb:h1, IP Address:10.0.0.1',
      [
        { type: 'DNS', value: 'a' },
        { type: 'URI', value: 'urn:agentlb:h1' },
        { type: 'IP Address', value: '10.0.0.1' },
      ],
    ],
    // A comma inside a value would forge a second entry; Node quotes it as a JSON string.
    ['DNS:"evil, DNS:victim", URI:x:y', [{ type: 'DNS', value: 'evil, DNS:victim' }, { type: 'URI', value: 'x:y' }]],
    ['URI:"a\\"b"', [{ type: 'URI', value: 'a"b' }]],
    ['DNS:"unterminated, DNS:b', []],
    ['no colon at all', []],
  ];
  for (const [text, expected] of cases) t.same(parseSubjectAltName(text), expected, JSON.stringify(text));
});

t.test('certificate names: CNs, DNS and URI SANs, never IP addresses or emails', async (t) => {
  t.same(certificateNames({ subject: { CN: 'h1' } as never, subjectaltname: 'IP Address:10.0.0.1, email:a@b, DNS:h1b, URI:urn:h1c' }), ['h1', 'h1b', 'urn:h1c']);
  t.same(certificateNames({ subject: { CN: ['a', 'b'] } as never, subjectaltname: undefined as never }), ['a', 'b']);
  t.same(certificateNames({} as never), [], 'no certificate');
});

t.test('TLS and limit flags: values and combinations', async (t) => {
  t.same(parseSecurityFlags({}), { tlsFiles: undefined, maxHandshakes: undefined, maxConnectionRate: undefined, connectionBurst: undefined, rateLimitLoopback: undefined });
  t.same(
    parseSecurityFlags({
      'tls-cert': 'c.pem',
      'tls-key': 'k.pem',
      'tls-ca': 'ca.pem',
      'require-client-cert': true,
      'max-handshakes': '10',
      'max-connection-rate': '0',
      'connection-burst': '5',
      'rate-limit-loopback': true,
    }),
    {
      tlsFiles: { certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem', requireClientCert: true },
      maxHandshakes: 10,
      maxConnectionRate: 0,
      connectionBurst: 5,
      rateLimitLoopback: true,
    },
  );
  const refused: [Parameters<typeof parseSecurityFlags>[0], string][] = [
    [{ 'tls-cert': 'c.pem' }, '--tls-cert and --tls-key go together'],
    [{ 'tls-key': 'k.pem' }, '--tls-cert and --tls-key go together'],
    [{ 'tls-ca': 'ca.pem' }, '--tls-ca needs --tls-cert and --tls-key'],
    [{ 'require-client-cert': true }, '--require-client-cert needs --tls-cert and --tls-key'],
    [{ 'tls-cert': 'c', 'tls-key': 'k', 'require-client-cert': true }, '--require-client-cert needs --tls-ca (the CA that issues agent certificates)'],
    [{ 'tls-cert': '', 'tls-key': 'k' }, '--tls-cert must not be empty'],
    [{ 'connection-burst': '0' }, '--connection-burst must be an integer from 1 to 1000000, got "0"'],
    [{ 'max-handshakes': '-1' }, '--max-handshakes must be an integer from 0 to 10000000, got "-1"'],
  ];
  for (const [values, message] of refused) t.throws(() => parseSecurityFlags(values), new UsageError(message), message);
});

t.test('PEM files are read and checked at start, naming the files', async (t) => {
  const dir = t.testdir();
  const pki = await makePki(dir);
  const file = (name: string): string => path.join(pki.dir, name);
  const tls = await loadServerTls({ certFile: file('localhost.crt'), keyFile: file('localhost.key'), caFile: pki.caFile, requireClientCert: true });
  t.same(tls, { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requireClientCert: true });
  await t.rejects(
    loadServerTls({ certFile: file('localhost.crt'), keyFile: file('agent-1.key'), caFile: undefined, requireClientCert: false }),
    { code: 'bad_tls_files', message: new RegExp(`^unusable TLS files \\(${file('localhost.crt')}, ${file('agent-1.key')}\\): .*key values mismatch`) },
  );
  await t.rejects(
    loadServerTls({ certFile: file('missing.crt'), keyFile: file('localhost.key'), caFile: undefined, requireClientCert: false }),
    new TlsFilesError(`cannot read ${file('missing.crt')}: ENOENT: no such file or directory, open '${file('missing.crt')}'`),
  );
  await t.rejects(
    loadServerTls({ certFile: file('localhost.crt'), keyFile: file('localhost.key'), caFile: undefined, requireClientCert: true }),
    new TlsFilesError('requiring client certificates needs the CA that issues them (--tls-ca)'),
  );
  const garbage = path.join(dir, 'garbage.pem');
  await writeFile(garbage, 'not PEM at all');
  await t.rejects(loadServerTls({ certFile: garbage, keyFile: file('localhost.key'), caFile: undefined, requireClientCert: false }), { code: 'bad_tls_files' });

  t.same(await loadAgentTls({ caFile: pki.caFile, certFile: undefined, keyFile: undefined }), { ca: pki.ca, rejectUnauthorized: true });
  t.same(await loadAgentTls({ caFile: pki.caFile, certFile: file('agent-1.crt'), keyFile: file('agent-1.key') }), {
    ca: pki.ca,
    cert: pki.agent.cert,
    key: pki.agent.key,
    rejectUnauthorized: true,
  });
  await t.rejects(
    loadAgentTls({ caFile: pki.caFile, certFile: file('agent-1.crt'), keyFile: undefined }),
    new TlsFilesError('an agent certificate needs both its certificate and its key file'),
  );
});
