/**
 * The server's state at start: the store (the embedded file store in the data dir unless one
 * is given) opened and its snapshot made into the Fleet, the admin token resolved, and the data
 * dir tightened to its owner. Each failure is a ServerStartError saying which and why.
 */
import { AdminTokenError, resolveAdminToken, type ResolvedToken } from '../api/token';
import type { Logger } from '../log';
import { Fleet, FleetSettingsError } from '../server/fleet/fleet';
import { octal, secureDataDir } from '../store/data-dir-mode';
import { FileStore } from '../store/file-store';
import type { Store } from '../store/types';
import type { Cleanups } from './cleanups';
import { ServerStartError } from './start-error';

export interface StoreSetupOptions {
  /** Default: the embedded file store in dataDir. */
  store: Store | undefined;
  dataDir: string;
  /** undefined: DATA_DIR/admin.token (generated on first start). */
  adminToken: string | undefined;
  logger: Logger;
}

export interface StoreSetup {
  store: Store;
  fleet: Fleet;
  token: ResolvedToken;
}

/** Opens the store (its close added to `cleanups` once open) and reads what the server starts from. */
export async function openStore(options: StoreSetupOptions, cleanups: Cleanups): Promise<StoreSetup> {
  const { logger, dataDir } = options;
  const store =
    options.store ??
    new FileStore({
      dataDir,
      onCompactionError: (error, retryInMs) =>
        logger.error({ event: 'compaction_failed', err: error, retryInMs }, `host journal compaction failed (retried in ${retryInMs / 1000} s at the earliest)`),
    });
  let snapshot;
  try {
    snapshot = await store.open();
  } catch (error) {
    throw new ServerStartError('store_failed', `cannot open the store: ${(error as Error).message}`, { cause: error });
  }
  cleanups.add(() => store.close());
  const fleet = Fleet.fromSnapshot(snapshot);
  if (fleet instanceof FleetSettingsError) {
    throw new ServerStartError('bad_stored_settings', `the stored settings are unusable: ${fleet.message}`);
  }
  // Before any agent is served: a 100 000-host balanced zone planned in one piece held the
  // loop ~150 ms at its first handshake; in slices, the loop stays free (fleet.ts).
  await fleet.planZones();
  const token = await resolveAdminToken(options.adminToken, dataDir);
  if (token instanceof AdminTokenError) throw new ServerStartError('bad_admin_token', token.message);
  // In cluster mode with an explicit token the data dir is not used: leave it alone.
  if (store instanceof FileStore || token.path !== undefined) await warnTightened(dataDir, logger);
  return { store, fleet, token };
}

/** The data dir 0700 and its files 0600; each loosening found is a warning naming it. */
async function warnTightened(dataDir: string, logger: Logger): Promise<void> {
  let tightened;
  try {
    tightened = await secureDataDir(dataDir);
  } catch (error) {
    throw new ServerStartError('store_failed', `cannot restrict the data directory ${dataDir} to its owner: ${(error as Error).message}`, { cause: error });
  }
  for (const { path, was, now } of tightened) {
    logger.warn({ event: 'permissions_tightened', path, was: octal(was), now: octal(now) }, `${path} was mode ${octal(was)}, readable by others; changed to ${octal(now)}`);
  }
}
