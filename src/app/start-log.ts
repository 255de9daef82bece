/**
 * What a server says once it listens: the `started` line (addresses, posture, settings, where
 * the admin token is), and the warnings about a configuration that works but should not be
 * left so: an agent port open to anyone, a `host` setting that does not name this server, an
 * embedded store serving a fleet. The settings warnings are given again at each change.
 */
import type { AddressInfo } from 'node:net';
import type { ResolvedToken } from '../api/token';
import type { Logger } from '../log';
import { openAgentPortWarning } from '../security/open-port-warning';
import type { ServerEvents } from '../server/events';
import { embeddedFleetWarning } from '../server/fleet/embedded-warning';
import type { Fleet } from '../server/fleet/fleet';
import { ownEntryKeys, selfNotInHostWarning } from '../server/fleet/self-address';
import type { SecurityPosture } from '../server/posture';
import { SETTING_HOST, type Settings } from '../settings/types';
import { agentlbVersion } from '../util/version';

export interface StartedServer {
  logger: Logger;
  posture: SecurityPosture;
  agentAddress: AddressInfo;
  adminAddress: AddressInfo;
  dataDir: string;
  fleet: Fleet;
  token: ResolvedToken;
  /** Whether agents must speak TLS, and present a token. */
  tls: boolean;
  agentToken: boolean;
}

export function logStarted(server: StartedServer): void {
  const { logger, agentAddress, adminAddress, fleet, token } = server;
  logger.info(
    {
      event: 'started',
      version: agentlbVersion(),
      ...server.posture,
      agentHost: agentAddress.address,
      agentPort: agentAddress.port,
      adminHost: adminAddress.address,
      adminPort: adminAddress.port,
      dataDir: server.dataDir,
      settings: fleet.settings,
      settingsVersion: fleet.settingsVersion,
      hosts: fleet.hostCount,
      adminToken: token.source === 'explicit' ? 'given' : token.path,
    },
    token.source === 'generated' ? `server started; admin token generated into ${token.path}` : 'server started',
  );
  const openPort = openAgentPortWarning({ address: agentAddress.address, tls: server.tls, token: server.agentToken });
  if (openPort !== undefined) logger.warn({ event: 'open_agent_port', agentHost: agentAddress.address }, openPort);
}

export interface SettingsWarningsOptions {
  logger: Logger;
  events: ServerEvents;
  fleet: Fleet;
  advertise: string | undefined;
  agentAddress: AddressInfo;
  /** This server's entry of `host` (ownHostEntry). */
  ownEntry: string;
  /** The embedded store: a fleet of servers configured in `host` is warned about. */
  embedded: boolean;
}

/** Warns about the settings now and at each change; returns what stops the watching. */
export function watchSettingsWarnings(options: SettingsWarningsOptions): (() => void)[] {
  const { logger, events, fleet, ownEntry } = options;
  const ownKeys = ownEntryKeys(options.advertise, options.agentAddress);
  const warnIfNotSelf = (settings: Settings): void => {
    const warning = selfNotInHostWarning(settings, ownKeys, ownEntry);
    if (warning !== undefined) logger.warn({ event: 'self_not_in_host', host: settings[SETTING_HOST], self: ownEntry }, warning);
  };
  warnIfNotSelf(fleet.settings);
  const offs = [events.on('settingsChanged', (e) => warnIfNotSelf(e.settings))];
  if (options.embedded) {
    const warnIfFleet = (settings: Settings): void => {
      const warning = embeddedFleetWarning(settings);
      if (warning !== undefined) logger.warn({ event: 'embedded_fleet' }, warning);
    };
    warnIfFleet(fleet.settings);
    offs.push(events.on('settingsChanged', (e) => warnIfFleet(e.settings)));
  }
  return offs;
}
