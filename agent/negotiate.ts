/**
 * Version negotiation (protocol.md section 9): the agent says version 2; a server that answers
 * `unsupported_version` (an older server) is asked again at once with version 1, before the
 * agent moves on to its next entry. The first fallback per server is logged at info, later
 * ones at debug, so a fleet of new agents in front of old servers does not flood the log.
 * Every connection asks for 2 first again: an upgraded server is used as such at once.
 */
import type { Hello } from '../src/protocol/messages';
import type { ServerEntry } from './server-pool';
import { HandshakeFailure, openSession, type Session, type SessionOptions } from './session';

/** The two logger calls the negotiator makes (a pino Logger fits). */
type NegotiationLog = { info(fields: object, message: string): void; debug(fields: object, message: string): void };

export class VersionNegotiator {
  /** Servers already logged as falling back (by entry text); bounded by the list's 64 entries. */
  private readonly logged = new Set<string>();

  constructor(private readonly log: NegotiationLog) {}

  /** Handshakes with `server`, falling back to version 1 when it does not speak `hello.version`. */
  async open(server: ServerEntry, hello: Hello, opts: SessionOptions, signal?: AbortSignal): Promise<Session | HandshakeFailure> {
    const first = await openSession(server, hello, opts, signal);
    if (!(first instanceof HandshakeFailure) || first.serverCode !== 'unsupported_version' || hello.version === 1) return first;
    const fields = { server: server.text, refused: hello.version, reason: first.message };
    if (this.logged.has(server.text)) {
      this.log.debug(fields, `server ${server.text} speaks protocol 1 only: connecting with version 1`);
    } else {
      this.logged.add(server.text);
      this.log.info(fields, `server ${server.text} does not speak protocol ${hello.version}: connecting with version 1 (no calls on this connection)`);
    }
    return openSession(server, { ...hello, version: 1 }, opts, signal);
  }
}
