/**
 * Where a server's admin API and data live unless told otherwise. Its own module because
 * the client commands (`agentlb settings`, `hosts`, ...) need these values too, and
 * importing them from daemon.ts would load the whole server (pg, piscina, the listener).
 */
export const DEFAULT_ADMIN_HOST = '127.0.0.1';
export const DEFAULT_ADMIN_PORT = 8251;
export const DEFAULT_DATA_DIR = './data';
