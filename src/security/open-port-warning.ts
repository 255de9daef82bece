/**
 * The warning a server gives at start when anything on the network can enrol as an agent:
 * the agent port is reachable beyond loopback and neither TLS nor an enrolment token is
 * required. The defaults are that open (CloudStack's 0.0.0.0:8250, no token, no TLS), so the
 * operator must at least be told, with the way out.
 */
import { isIP } from 'node:net';

export interface AgentPortPosture {
  /** The address the agent listener is bound to. */
  address: string;
  tls: boolean;
  token: boolean;
}

/** The warning text, or undefined when the port is loopback-only or protected. */
export function openAgentPortWarning(posture: AgentPortPosture): string | undefined {
  if (posture.tls || posture.token || isLoopback(posture.address)) return undefined;
  return (
    `the agent port (${posture.address}) is reachable beyond loopback with neither TLS nor an enrolment token: ` +
    'anyone who can reach it can register hosts and take over a known guid; set --agent-token, or --tls-cert/--tls-key ' +
    '(with --tls-ca and --require-client-cert, or --ca-dir for enrolment), or listen on 127.0.0.1'
  );
}

function isLoopback(address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}
