/**
 * The log lines operators read: one per connect, handshake failure, disconnect, list sent,
 * ack failure and setting change. A subscriber of ServerEvents, like metrics.
 */
import type { Logger } from '../log';
import type { ServerEvents } from './events';

/** Subscribes `logger` to `events`; returns the function that unsubscribes all. */
export function logServerEvents(events: ServerEvents, logger: Logger): () => void {
  // Per-connection lines are checked against the level before their object is built: at
  // thousands of handshakes a second, a dropped line should cost a comparison, not an object.
  const enabled = (level: 'debug' | 'info'): boolean => logger.isLevelEnabled(level);
  const off = [
    events.on('connected', (e) => enabled('debug') && logger.debug({ event: 'accepted', connId: e.connId, remote: e.remoteAddress }, 'agent connection accepted')),
    events.on('handshake', (e) => {
      if (e.result === 'ok') {
        if (enabled('info')) logger.info({ event: 'connected', connId: e.connId, remote: e.remoteAddress, hostId: e.hostId, guid: e.guid, zone: e.zone, ms: e.durationMs }, 'agent connected');
      } else if (e.result === 'closed') {
        // Port probes and agents giving up look like this: worth a debug line, not a warning.
        if (enabled('debug')) logger.debug({ event: 'handshake_abandoned', connId: e.connId, remote: e.remoteAddress, guid: e.guid }, 'agent closed before its handshake ended');
      } else {
        logger.warn({ event: 'handshake_failed', connId: e.connId, remote: e.remoteAddress, result: e.result, guid: e.guid }, 'agent handshake failed');
      }
    }),
    events.on('disconnected', (e) =>
      enabled('info') && logger.info({ event: 'disconnected', connId: e.connId, remote: e.remoteAddress, hostId: e.hostId, guid: e.guid, reason: e.reason }, 'agent disconnected'),
    ),
    events.on('protocolError', (e) =>
      logger.warn({ event: 'protocol_error', connId: e.connId, remote: e.remoteAddress, hostId: e.hostId, code: e.code, detail: e.message }, 'agent broke the protocol'),
    ),
    events.on('hostsSent', (e) =>
      enabled('info') && logger.info({ event: 'hosts_sent', hostId: e.hostId, guid: e.guid, seq: e.seq, hosts: e.hosts, algorithm: e.algorithm, checkInterval: e.checkInterval, cause: e.cause }, 'list sent'),
    ),
    events.on('acked', (e) => {
      if (!e.ok) logger.warn({ event: 'ack_failed', hostId: e.hostId, guid: e.guid, seq: e.seq, error: e.error }, 'agent could not persist its list');
    }),
    events.on('settingsChanged', (e) =>
      logger.info({ event: 'settings_changed', settings: e.settings, settingsVersion: e.settingsVersion, agentsUpdated: e.agentsUpdated }, 'settings changed'),
    ),
    events.on('hostRegistered', (e) => logger.info({ event: 'host_registered', host: e.host }, 'host registered')),
    events.on('hostRemoved', (e) => logger.info({ event: 'host_removed', host: e.host, agentsUpdated: e.agentsUpdated }, 'host removed')),
    events.on('avoidChanged', (e) =>
      logger.info({ event: 'avoid_changed', avoided: e.avoided, agentsUpdated: e.agentsUpdated }, 'servers sent last in every list changed'),
    ),
    events.on('drainChanged', (e) =>
      logger.info({ event: e.draining ? 'drain_started' : 'drain_ended', address: e.address, rate: e.rate }, e.draining ? 'draining' : 'drain ended'),
    ),
    events.on('drainTimedOut', (e) =>
      logger.warn(
        { event: 'drain_timed_out', address: e.address, remaining: e.remaining, handedOver: e.handedOver },
        `drain timed out: the ${e.remaining} agents still connected are handed over at once`,
      ),
    ),
    events.on('handedOver', (e) =>
      enabled('debug') && logger.debug({ event: 'handed_over', connId: e.connId, hostId: e.hostId, guid: e.guid }, 'agent told to move on (draining)'),
    ),
    events.on('listenerError', (e) => logger.error({ event: 'internal_error', source: e.event, err: e.error }, 'internal error contained')),
  ];
  return () => {
    for (const unsubscribe of off) unsubscribe();
  };
}
