/**
 * The defaults of the daemon's options that the `agentlb server` command shows and parses
 * against, re-exported from their owners (the listener, the burst pool) so the CLI reaches the
 * server only through the composition root.
 */
export { DEFAULT_LISTENER_OPTIONS } from '../server/net/listener';
export { DEFAULT_POOL_OPTIONS, POOL_MODES, type PoolMode } from '../server/burst/pool';
