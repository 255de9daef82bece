/**
 * Why a server could not start, as a typed error: the CLI prints its message as the one line
 * an operator reads (a port in use or a bad file is not a bug), tests assert its code.
 */
import type { AddressInfo } from 'node:net';

export type ServerStartErrorCode = 'bad_ca_dir' | 'bad_stored_settings' | 'bad_admin_token' | 'listen_failed' | 'store_failed';

export class ServerStartError extends Error {
  constructor(
    readonly code: ServerStartErrorCode,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'ServerStartError';
  }
}

/** `listen`, its failure (a port in use) a `listen_failed` naming what and where. */
export async function listenOrFail(listen: () => Promise<AddressInfo>, what: string, host: string, port: number): Promise<AddressInfo> {
  try {
    return await listen();
  } catch (error) {
    throw new ServerStartError('listen_failed', `cannot listen for ${what} connections on ${host}:${port}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
