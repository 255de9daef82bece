/**
 * Log lines for bad connections: limits that bite, TLS failures, failed handshakes and
 * protocol errors, saying why a connection was refused or dropped. A flood must not become a
 * flood of log lines (the log is written synchronously; the audit counted three lines per bad
 * connection): per kind, the first event of a window is logged at once with its details, the
 * others are counted and reported in one summary line when the window ends.
 */
import type { Logger } from '../log';
import type { ServerEvents } from './events';
import { isPlainPeerError, PLAIN_CLIENT_ON_TLS_LISTENER } from '../security/tls-mismatch';
import { AGENT_REFUSED_CERTIFICATE, agentRefusedCertificateMessage } from '../security/tls-refused';

export const DEFAULT_LOG_WINDOW_MS = 10_000;

interface Window {
  fields: Record<string, unknown>;
  suppressed: number;
  lastRemote: string;
  timer: NodeJS.Timeout;
}

/** Subscribes; returns the function that unsubscribes and writes pending summaries. */
export function logLimitEvents(events: ServerEvents, logger: Logger, windowMs = DEFAULT_LOG_WINDOW_MS): () => void {
  const windows = new Map<string, Window>();
  const summarize = (key: string): void => {
    const window = windows.get(key);
    windows.delete(key);
    if (window === undefined) return;
    clearTimeout(window.timer);
    if (window.suppressed === 0) return;
    logger.warn(
      { ...window.fields, suppressed: window.suppressed, lastRemote: window.lastRemote },
      `${window.suppressed} more like it in the last ${windowMs} ms`,
    );
  };
  const report = (key: string, fields: Record<string, unknown>, remote: string, detail: string | undefined, message: string, once: Record<string, unknown> = {}): void => {
    const window = windows.get(key);
    if (window !== undefined) {
      window.suppressed++;
      window.lastRemote = remote;
      return;
    }
    logger.warn({ ...fields, ...once, remote, ...(detail === undefined ? {} : { detail }) }, message);
    const timer = setTimeout(() => summarize(key), windowMs);
    timer.unref();
    windows.set(key, { fields, suppressed: 0, lastRemote: remote, timer });
  };
  const off = [
    events.on('limitReached', (e) =>
      report(e.limit, { event: 'limit_reached', limit: e.limit }, e.remoteAddress, e.message, `connection refused or dropped: ${e.message}`),
    ),
    // OpenSSL's text for a plain client, or "socket hang up" from an agent that refused our
    // certificate, names neither cause nor fix: it stays in `detail` (the original code in `cause`).
    events.on('tlsFailed', (e) =>
      report(
        `tls ${e.code}`,
        { event: 'tls_failed', code: e.code, ...(e.cause === undefined ? {} : { cause: e.cause }) },
        e.remoteAddress,
        e.message,
        isPlainPeerError(e.code)
          ? PLAIN_CLIENT_ON_TLS_LISTENER
          : e.code === AGENT_REFUSED_CERTIFICATE
            ? agentRefusedCertificateMessage(e.remoteAddress)
            : `TLS refused: ${e.message}`,
      ),
    ),
    events.on('handshake', (e) => {
      if (e.result === 'ok' || e.result === 'closed') return;
      report(`handshake ${e.result}`, { event: 'handshake_failed', result: e.result }, e.remoteAddress, undefined, `agent handshake failed: ${e.result}${e.detail === undefined ? '' : `: ${e.detail}`}`, {
        connId: e.connId,
        ...(e.guid === undefined ? {} : { guid: e.guid }),
        ...(e.detail === undefined ? {} : { reason: e.detail }),
      });
    }),
    events.on('protocolError', (e) =>
      report(`protocol ${e.code}`, { event: 'protocol_error', code: e.code }, e.remoteAddress, e.message, 'agent broke the protocol', {
        connId: e.connId,
        ...(e.hostId === undefined ? {} : { hostId: e.hostId }),
      }),
    ),
  ];
  return () => {
    for (const unsubscribe of off) unsubscribe();
    for (const key of [...windows.keys()]) summarize(key);
  };
}
