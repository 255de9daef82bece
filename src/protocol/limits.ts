/**
 * The bounds protocol.md puts on decoded values. One table, so the validator, the host-list
 * codec and the spec's field tables cannot disagree. String bounds count UTF-8 bytes.
 */
export const LIMITS = {
  guidBytes: 128,
  zoneBytes: 128,
  tokenBytes: 256,
  /** One host-list entry (`addr`, `addr:port`, `[ipv6]:port`). */
  hostEntryBytes: 255,
  /** Entries in one host list, on the wire and in the `host` setting. */
  hostsPerList: 64,
  algorithmBytes: 64,
  serverBytes: 255,
  /** `hello.csr` (a PKCS#10 request) and `welcome.certificate` (an X.509 certificate), PEM text. */
  pemBytes: 16_384,
  /** `error.message` and `ack.error`. */
  textBytes: 1024,
  /** Seconds; the largest value whose milliseconds still fit a 32-bit timer. */
  checkIntervalSeconds: 2_147_483,
  /** Milliseconds; the largest 32-bit timer delay. */
  pingIntervalMs: 2_147_483_647,
  /**
   * Nesting of arrays/maps inside one payload. Our messages need 2 (map -> array -> str); the
   * headroom lets a later minor version add nested values that old receivers ignore.
   */
  nestingDepth: 32,
  /** `call.method`: 1..128 bytes of [A-Za-z0-9._-], not starting with `.` (it names a file). */
  methodBytes: 128,
  /** `result.error.code`. */
  callErrorCodeBytes: 64,
  /** `call.timeoutMs`: the largest 32-bit timer delay. */
  callTimeoutMs: 2_147_483_647,
  /** `result.error.exitCode`: a process exit status. */
  exitCode: 255,
} as const;

/** The port an entry without `:port` means (CloudStack's agent port). */
export const DEFAULT_AGENT_PORT = 8250;
