/**
 * The log lines operators read: one per connect and disconnect (up to 100 a second, then a
 * summary: connection-lines.ts), handshake failure (with the reason), fan-out (a summary;
 * each agent's list at debug), ack failure, setting change and call. A
 * subscriber of ServerEvents, like metrics.
 */
import type { Logger } from '../log';
import { ConnectionLines, DEFAULT_CONNECTION_LINES_PER_SECOND } from './connection-lines';
import type { HostsCause, ServerEvents } from './events';

/** Why a fan-out ran, in the words of its log line. */
const FANOUT_WHY: Record<HostsCause, string> = {
  handshake: 'handshake',
  settings: 'settings changed',
  'host-set': 'hosts of the zone changed',
  avoid: 'servers sent last changed',
  rebalance: 'rebalance moving agents',
};

/** Subscribes `logger` to `events`; returns the function that unsubscribes all. */
export function logServerEvents(events: ServerEvents, logger: Logger, connectionLinesPerSecond = DEFAULT_CONNECTION_LINES_PER_SECOND): () => void {
  // Per-connection lines are checked against the level before their object is built: at
  // thousands of handshakes a second, a dropped line should cost a comparison, not an object.
  const enabled = (level: 'debug' | 'info'): boolean => logger.isLevelEnabled(level);
  const lines = new ConnectionLines(logger, connectionLinesPerSecond);
  const off = [
    events.on('connected', (e) => enabled('debug') && logger.debug({ event: 'accepted', connId: e.connId, remote: e.remoteAddress }, 'agent connection accepted')),
    events.on('handshake', (e) => {
      if (e.result === 'ok') {
        if (enabled('info') && lines.connect()) logger.info({ event: 'connected', connId: e.connId, remote: e.remoteAddress, hostId: e.hostId, guid: e.guid, zone: e.zone, ms: e.durationMs }, 'agent connected');
      } else if (e.result === 'closed') {
        // Port probes and agents giving up look like this: worth a debug line, not a warning.
        if (enabled('debug')) logger.debug({ event: 'handshake_abandoned', connId: e.connId, remote: e.remoteAddress, guid: e.guid }, 'agent closed before its handshake ended');
      }
      // A failed handshake is logged by limit-log.ts, rate-limited: one per bad
      // connection, unlimited, let a flood of bad clients flood the log.
    }),
    events.on('disconnected', (e) => {
      // A connection that never registered a host (a refused or bad client) is debug: its
      // failure was already logged, rate-limited.
      if (e.hostId === undefined) {
        if (enabled('debug')) logger.debug({ event: 'disconnected', connId: e.connId, remote: e.remoteAddress, reason: e.reason }, 'connection closed before its handshake ended');
      } else if (enabled('info') && lines.disconnect(e.reason)) {
        logger.info({ event: 'disconnected', connId: e.connId, remote: e.remoteAddress, hostId: e.hostId, guid: e.guid, reason: e.reason }, 'agent disconnected');
      }
    }),
    // protocol_error lines: limit-log.ts, rate-limited like the limit logs.
    // Per agent at debug: a settings change on 15 000 agents is one `fanout` line at info.
    events.on('hostsSent', (e) =>
      enabled('debug') && logger.debug({ event: 'hosts_sent', connId: e.connId, hostId: e.hostId, guid: e.guid, seq: e.seq, hosts: e.hosts, algorithm: e.algorithm, checkInterval: e.checkInterval, cause: e.cause }, 'list sent'),
    ),
    events.on('fanout', (e) => {
      // A fan-out that changed nothing (every agent up to date) is worth a line only at debug.
      const level = e.agentsUpdated > 0 ? 'info' : 'debug';
      if (!enabled(level)) return;
      const ms = Math.round(e.durationMs * 10) / 10;
      logger[level](
        { event: 'fanout', cause: e.cause, zone: e.zone, agentsUpdated: e.agentsUpdated, agentsConnected: e.agentsConnected, settingsVersion: e.settingsVersion, ms },
        `list sent to ${e.agentsUpdated} of ${e.agentsConnected} agents (${FANOUT_WHY[e.cause]}${e.zone === undefined ? '' : `, zone ${e.zone}`}) in ${ms} ms`,
      );
    }),
    events.on('acked', (e) => {
      if (!e.ok) logger.warn({ event: 'ack_failed', hostId: e.hostId, guid: e.guid, seq: e.seq, error: e.error }, 'agent could not persist its list');
    }),
    events.on('settingsChanged', (e) =>
      logger.info({ event: 'settings_changed', settings: e.settings, settingsVersion: e.settingsVersion, agentsUpdated: e.agentsUpdated }, 'settings changed'),
    ),
    events.on('hostRegistered', (e) => logger.info({ event: 'host_registered', host: e.host }, 'host registered')),
    events.on('hostRemoved', (e) => logger.info({ event: 'host_removed', host: e.host, agentsUpdated: e.agentsUpdated }, 'host removed')),
    events.on('zoneChanged', (e) =>
      logger.info(
        { event: 'zone_changed', host: e.host, fromZone: e.fromZone, toZone: e.toZone },
        `host ${e.host.id} (${e.host.guid}) moved from zone ${JSON.stringify(e.fromZone)} to ${JSON.stringify(e.toZone)}`,
      ),
    ),
    events.on('avoidChanged', (e) =>
      logger.info({ event: 'avoid_changed', avoided: e.avoided, agentsUpdated: e.agentsUpdated }, 'servers sent last in every list changed'),
    ),
    events.on('drainChanged', (e) =>
      logger.info({ event: e.draining ? 'drain_started' : 'drain_ended', address: e.address, rate: e.rate }, e.draining ? 'draining' : 'drain ended'),
    ),
    events.on('rebalanceStarted', (e) =>
      logger.info(
        { event: 'rebalance_started', id: e.id, source: e.source, rate: e.rate, zone: e.zone, toMove: e.toMove, mine: e.mine, self: e.self },
        `rebalance ${e.id} (${e.source}) started: ${e.toMove} agents to move across the fleet, ${e.mine} of them here, at most ${e.rate}/s`,
      ),
    ),
    events.on('rebalanceEnded', (e) =>
      logger.info(
        { event: 'rebalance_ended', id: e.id, source: e.source, reason: e.reason, toMove: e.toMove, moved: e.moved, notMoved: e.notMoved },
        `rebalance ${e.id} (${e.source}) ended (${e.reason}): ${e.moved} moved, ${e.notMoved} not moved of ${e.toMove}`,
      ),
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
    // One line per host called: method, host, caller, outcome, duration; never params or values.
    events.on('call', (e) =>
      enabled('info') && logger.info({ event: 'call', method: e.method, hostId: e.hostId, guid: e.guid, caller: e.caller, via: e.via, outcome: e.status, code: e.code, ms: e.ms }, 'call'),
    ),
    events.on('listenerError', (e) => logger.error({ event: 'internal_error', source: e.event, err: e.error }, 'internal error contained')),
  ];
  return () => {
    for (const unsubscribe of off) unsubscribe();
    lines.close();
  };
}
