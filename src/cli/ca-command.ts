/**
 * `agentlb ca init DIR`, `agentlb ca issue DIR --name NAME [--server|--agent] [--san ...]`:
 * mutual TLS for the agent channel in two commands; `agentlb ca revoke DIR --name NAME |
 * --serial S [--store URL]` adds certificates to the CA's revocation list (DIR/ca.crl) and,
 * in cluster mode, to the store's revocations, which every server applies at once.
 */
import { CaError, checkName, DEFAULT_CA_DAYS, DEFAULT_CERT_DAYS, initCa, issueCertificate, type IssuedFiles } from '../security/ca';
import { revokeInCaDir, type RevokeResult } from '../security/ca-ledger';
import { normalSerial } from '../security/crl';
import { parseSan, SanError, type SubjectAltName } from '../security/san';
import { storeUrlOption } from './store-url';
import { EXIT_FAILURE, EXIT_OK, nonEmpty, parseFlags, parseInteger, UsageError, withUsage, type CliIo, type Command } from './args';

export const CA_USAGE = `Usage: agentlb ca init DIR [--days N]
       agentlb ca issue DIR --name NAME [--server | --agent] [--san SAN ...] [--days N]
       agentlb ca revoke DIR (--name NAME | --serial SERIAL) [--store URL]

A small certificate authority for the agent channel, kept in DIR.

  init    creates DIR (mode 0700) with ca.crt and ca.key (mode 0600); refuses if DIR
          already holds a CA
  issue   writes DIR/NAME.crt and DIR/NAME.key (mode 0600), signed by the CA in DIR;
          refuses if they exist
  revoke  adds to DIR/ca.crl (a CRL signed by the CA, PEM) every certificate the CA issued
          for NAME (by \`ca issue\` or by a server enrolling agents with --ca-dir DIR), or
          the one with SERIAL (hex, as \`openssl x509 -serial\` prints it); a certificate
          already listed is left as it is. Servers reading the list (--ca-dir DIR or
          --tls-crl FILE) refuse those certificates and drop agents connected with them once
          they reload it (SIGHUP). With --store (or AGENTLB_STORE) the certificates any
          server of the cluster issued are found in PostgreSQL too, and the revocations are
          recorded there: every server refuses them and drops their agents at once

Options:
  --name NAME     the certificate's subject CN and file name. For an agent, its guid: with
                  \`agentlb server --require-client-cert\` an agent may only use the guid its
                  certificate names (CN or a DNS/URI SAN).
  --server        a server certificate (serverAuth); NAME is also put in a SAN, as a DNS name
                  or an IP address. Name every address agents use to reach it with --san.
  --agent         an agent (client) certificate (clientAuth); the default
  --san SAN       a subject alternative name: DNS:name, IP:addr, URI:uri, or a bare name or
                  address; repeat for more
  --serial SERIAL the certificate to revoke (ca revoke only; excludes --name)
  --store URL     ca revoke only: the cluster's PostgreSQL (as \`agentlb server --store\`;
                  default AGENTLB_STORE)
  --days N        validity in days (default ${DEFAULT_CERT_DAYS} for issue, ${DEFAULT_CA_DAYS} for init)
  -h, --help      print this help and exit

Example:
  agentlb ca init /etc/agentlb/ca
  agentlb ca issue /etc/agentlb/ca --server --name mgmt1.example.com --san 10.0.0.5
  agentlb ca issue /etc/agentlb/ca --name "$(awk -F= '$1=="guid"{print $2}' agent.properties)"

Exit status: 0 on success, 1 when files exist, the CA cannot be read or (revoke) it issued no
such certificate, 2 for a bad command line.
`;

const FLAGS = {
  name: { type: 'string' },
  server: { type: 'boolean' },
  agent: { type: 'boolean' },
  san: { type: 'string', multiple: true },
  serial: { type: 'string' },
  store: { type: 'string' },
  days: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function report(io: CliIo, what: string, files: IssuedFiles): number {
  io.out(`${what}\n  certificate: ${files.certFile}\n  key:         ${files.keyFile} (mode 0600)\n`);
  return EXIT_OK;
}

function parseSans(values: readonly string[] | undefined): SubjectAltName[] {
  return (values ?? []).map((text) => {
    const san = parseSan(text);
    if (san instanceof SanError) throw new UsageError(`--san: ${san.message}`);
    return san;
  });
}

async function runCa(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help === true) {
    io.out(CA_USAGE);
    return EXIT_OK;
  }
  const [action, dirArg, ...extra] = positionals;
  if (action !== 'init' && action !== 'issue' && action !== 'revoke') {
    throw new UsageError(action === undefined ? 'missing action: init, issue or revoke' : `unknown action ${JSON.stringify(action)} (expected init, issue or revoke)`);
  }
  if (dirArg === undefined) throw new UsageError(`ca ${action} needs the CA directory`);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const dir = nonEmpty('DIR', dirArg);
  if (action !== 'revoke' && values.serial !== undefined) throw new UsageError(`--serial is for ca revoke, not ca ${action}`);
  if (action !== 'revoke' && values.store !== undefined) throw new UsageError(`--store is for ca revoke, not ca ${action}`);
  if (action === 'revoke') return runRevoke(dir, values, io);
  const days = values.days === undefined ? undefined : parseInteger('--days', values.days, 1, 36_500);
  try {
    if (action === 'init') {
      for (const flag of ['name', 'server', 'agent', 'san'] as const) {
        if (values[flag] !== undefined) throw new UsageError(`--${flag} is for ca issue, not ca init`);
      }
      return report(io, `CA created in ${dir}`, await initCa(dir, days === undefined ? {} : { days }));
    }
    if (values.name === undefined) throw new UsageError('ca issue needs --name NAME');
    const name = checkName(values.name);
    if (name instanceof CaError) throw new UsageError(`--name: ${name.message}`);
    if (values.server === true && values.agent === true) throw new UsageError('--server and --agent exclude each other');
    const role = values.server === true ? 'server' : 'agent';
    const files = await issueCertificate(dir, { name, role, sans: parseSans(values.san), ...(days === undefined ? {} : { days }) });
    return report(io, `${role} certificate for ${name} issued by the CA in ${dir}`, files);
  } catch (error) {
    if (!(error instanceof CaError)) throw error;
    io.err(`agentlb ca: ${error.message}\n`);
    return EXIT_FAILURE;
  }
}

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

async function runRevoke(dir: string, values: Values, io: CliIo): Promise<number> {
  for (const flag of ['server', 'agent', 'san', 'days'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is not for ca revoke`);
  }
  if (values.name !== undefined && values.serial !== undefined) throw new UsageError('ca revoke takes --name or --serial, not both');
  if (values.name === undefined && values.serial === undefined) throw new UsageError('ca revoke needs --name NAME or --serial SERIAL');
  if (values.serial !== undefined && normalSerial(values.serial) === undefined) {
    throw new UsageError(`--serial must be a hexadecimal serial number (1 to 128 digits, colons allowed), got ${JSON.stringify(values.serial)}`);
  }
  const target = values.name !== undefined ? { name: nonEmpty('--name', values.name) } : { serial: values.serial! };
  // The store keeps serials in normal form (checked above to have one).
  const storeTarget = 'name' in target ? target : { serial: normalSerial(target.serial)! };
  const storeUrl = storeUrlOption(values.store, io.env);
  let result: RevokeResult;
  let recorded: string[] | undefined;
  try {
    if (storeUrl === undefined) {
      result = await revokeInCaDir(dir, target);
    } else {
      // The CRL first, then the store: a store write that fails is made up for by running
      // the command again (the store takes what the list already held too).
      // Loaded only here: the other ca commands never touch PostgreSQL.
      const { withStoreConnection } = require('./cluster-store') as typeof import('./cluster-store');
      const { insertRevocations, readIssued } = require('../store/pg/certificates') as typeof import('../store/pg/certificates');
      [result, recorded] = await withStoreConnection(storeUrl, async (db) => {
        const revoke = await revokeInCaDir(dir, target, { alsoIssued: await readIssued(db, storeTarget) });
        return [revoke, await insertRevocations(db, [...revoke.revoked, ...revoke.already], 'agentlb ca revoke')] as const;
      });
    }
  } catch (error) {
    // StoreCommandError by name: its module is loaded only with --store.
    if (!(error instanceof CaError) && (error as Error).name !== 'StoreCommandError') throw error;
    io.err(`agentlb ca: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  const lines = [
    ...result.revoked.map((entry) => `revoked ${entry.serial} (${entry.name}, valid until ${entry.notAfter})`),
    ...result.already.map((entry) => `already revoked ${entry.serial} (${entry.name})`),
    `  revocation list: ${result.crlFile}`,
  ];
  if (recorded !== undefined) {
    lines.push(`  cluster store: ${recorded.length === 0 ? 'held every one already' : `${recorded.length} revocation(s) recorded; every server refuses them now`}`);
  }
  io.out(`${lines.join('\n')}\n`);
  return EXIT_OK;
}

export const caCommand: Command = {
  name: 'ca',
  summary: 'create a CA, issue server and agent certificates, revoke them (init DIR, issue DIR --name NAME, revoke DIR --name NAME)',
  run: (argv, io) => withUsage(io, 'agentlb ca', () => runCa(argv, io)),
};
