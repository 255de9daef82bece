/**
 * The server's security posture in four words, for the `started` log line and /healthz: does
 * it speak TLS, does it ask agents for client certificates, does it require an enrolment
 * token, and where does its state live. An operator (or a monitoring check) can then see at a
 * glance that a server runs open, instead of inferring it from the flags it was given.
 */
export interface SecurityPosture {
  /** Agents connect over TLS. */
  tls: boolean;
  /** none: not asked for; requested: checked when presented (--tls-ca); required: refused without. */
  clientCerts: 'none' | 'requested' | 'required';
  /** required: agents must present --agent-token as hello.token. */
  agentToken: 'required' | 'none';
  /** embedded: the data directory (one server); postgresql: cluster mode. */
  storeKind: 'embedded' | 'postgresql';
}

export interface PostureInput {
  tls: { ca: unknown; requireClientCert: boolean } | undefined;
  agentToken: string | undefined;
  embeddedStore: boolean;
}

export function securityPosture(input: PostureInput): SecurityPosture {
  const { tls } = input;
  return {
    tls: tls !== undefined,
    clientCerts: tls === undefined || tls.ca === undefined ? 'none' : tls.requireClientCert ? 'required' : 'requested',
    agentToken: input.agentToken === undefined ? 'none' : 'required',
    storeKind: input.embeddedStore ? 'embedded' : 'postgresql',
  };
}
