/**
 * The embedded store keeps one server's own host registry. Several servers each on their own
 * data directory number the same agents differently, so roundrobin and balanced hand an agent
 * different lists depending on which server it reaches, and with a check interval set the
 * agents chase a preferred server that changes with every connect. That is a supported
 * deployment only for `static` (no positions) or a single server: say so loudly in the log,
 * at start and on every settings change, rather than let an operator find out from flapping.
 */
import { parseHostList, HostListError } from '../../protocol/host-list';
import { SETTING_ALGORITHM, SETTING_HOST, type Settings } from '../../settings/types';

export function embeddedFleetWarning(settings: Settings): string | undefined {
  const algorithm = settings[SETTING_ALGORITHM];
  if (algorithm === 'static') return undefined;
  const servers = parseHostList(settings[SETTING_HOST]);
  if (servers instanceof HostListError || servers.length < 2) return undefined;
  return (
    `${servers.length} management servers in host with ${algorithm}, on the embedded store: each server ` +
    'numbers hosts on its own, so an agent gets a different list from each server it reaches; ' +
    'run every server with the same --store postgres://... (cluster mode)'
  );
}
