/**
 * Certificates for the TLS tests, made with the project's own CA code (as an operator would
 * with `agentlb ca`): one trusted CA with a server and two agent certificates, and a second,
 * untrusted CA with an agent certificate of the same name.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { connectFramed, nextMessage, type FramedSocket } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION, type ServerMessage } from '../../src/protocol/messages';
import { initCa, issueCertificate } from '../../src/security/ca';
import type { ListenerTls } from '../../src/security/tls-files';

export interface Pem {
  cert: Buffer;
  key: Buffer;
}

export interface Pki {
  dir: string;
  caFile: string;
  ca: Buffer;
  server: Pem;
  /** CN agent-1, no SAN. */
  agent: Pem;
  /** CN agent-2 and the SANs URI:urn:agentlb:agent-2b and DNS:agent-2c. */
  agentWithSans: Pem;
  /** CN agent-1, signed by another CA. */
  stranger: Pem;
}

async function pem(dir: string, name: string): Promise<Pem> {
  const [cert, key] = await Promise.all([readFile(path.join(dir, `${name}.crt`)), readFile(path.join(dir, `${name}.key`))]);
  return { cert, key };
}

export async function makePki(root: string): Promise<Pki> {
  const dir = path.join(root, 'ca');
  const other = path.join(root, 'other-ca');
  await Promise.all([initCa(dir), initCa(other, { commonName: 'another CA' })]);
  await Promise.all([
    issueCertificate(dir, { name: 'localhost', role: 'server', sans: [{ type: 'IP', value: '127.0.0.1' }] }),
    issueCertificate(dir, { name: 'agent-1', role: 'agent' }),
    issueCertificate(dir, {
      name: 'agent-2',
      role: 'agent',
      sans: [
        { type: 'URI', value: 'urn:agentlb:agent-2b' },
        { type: 'DNS', value: 'agent-2c' },
      ],
    }),
    issueCertificate(other, { name: 'agent-1', role: 'agent' }),
  ]);
  const caFile = path.join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: await readFile(caFile),
    server: await pem(dir, 'localhost'),
    agent: await pem(dir, 'agent-1'),
    agentWithSans: await pem(dir, 'agent-2'),
    stranger: await pem(other, 'agent-1'),
  };
}

export function listenerTls(pki: Pki, requireClientCert: boolean, withCa = true): ListenerTls {
  return { cert: pki.server.cert, key: pki.server.key, ca: withCa ? pki.ca : undefined, requireClientCert };
}

/** Connects over TLS, trusting the test CA and presenting `client` when given. */
export function connectTls(port: number, pki: Pki, client?: Pem, extra: ConnectionOptions = {}): Promise<FramedSocket> {
  return connectFramed({
    host: '127.0.0.1',
    port,
    timeoutMs: 5_000,
    tls: { ca: pki.ca, ...(client === undefined ? {} : { cert: client.cert, key: client.key }), ...extra },
  });
}

/** Sends a hello for `guid` and returns the server's first answer. */
export async function helloOver(sock: FramedSocket, guid: string, token?: string): Promise<ServerMessage> {
  sock.send({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: [], algorithm: '', ...(token === undefined ? {} : { token }) });
  return nextMessage(sock, 5_000);
}

/** The error the socket closed with (undefined for a clean close). */
export function closeError(sock: FramedSocket): Promise<(Error & { code?: string }) | undefined> {
  if (sock.isClosed) return Promise.resolve(undefined);
  return new Promise((resolve) => sock.once('close', (error) => resolve(error)));
}
