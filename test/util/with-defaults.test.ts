/**
 * withDefaults, and the daemon's options built with it: each group is its defaults with what
 * was given laid over, a value given as undefined (what the CLI passes for an unset flag)
 * leaves the default, and a key the group does not own is not taken.
 */
import t from 'tap';
import { withDefaults } from '../../src/util/with-defaults';
import { DEFAULT_CONNECTION_LIMITS, DEFAULT_LISTEN_OPTIONS, DEFAULT_POOL_OPTIONS, serverOptions } from '../../src/app/options';
import { silentLogger } from '../../src/log';
import { serverUsage } from '../../src/cli/server-command';

t.test('given values over the defaults; undefined keeps the default', async (t) => {
  const defaults: Readonly<{ host: string; port: number; advertise: string | undefined }> = Object.freeze({ host: '0.0.0.0', port: 8250, advertise: undefined });
  t.same(withDefaults(defaults, undefined), defaults);
  t.same(withDefaults(defaults, { port: 0, host: undefined }), { host: '0.0.0.0', port: 0, advertise: undefined });
  t.same(withDefaults(defaults, { advertise: 'm1.example' }), { host: '0.0.0.0', port: 8250, advertise: 'm1.example' });
  t.not(withDefaults(defaults, {}), defaults, 'a new object: the frozen defaults are never handed out');
});

t.test('a key the group does not own is not taken', async (t) => {
  const given: Record<string, unknown> = { port: 1, maxFrame: 64 };
  t.same(withDefaults({ port: 8250 }, given), { port: 1 });
});

t.test('serverOptions: one group per owner, each with its defaults', async (t) => {
  const logger = silentLogger();
  const options = serverOptions({ logger, listen: { port: 0 }, connection: { pingIntervalMs: 50 }, pool: { mode: 'on' } });
  t.same(options.listen, { ...DEFAULT_LISTEN_OPTIONS, port: 0 });
  t.same(options.connection, { ...DEFAULT_CONNECTION_LIMITS, pingIntervalMs: 50 });
  t.same(options.pool, { ...DEFAULT_POOL_OPTIONS, mode: 'on' });
  t.equal(options.admin.token, undefined, 'no token given: DATA_DIR/admin.token');
  t.equal(options.admission.rateLimitLoopback, false);
  t.equal(options.logger, logger);
});

t.test('the help shows the agent limit it is given (read when help is printed, not at import)', async (t) => {
  t.match(serverUsage(1234), /limit minus 256, here 1234; 0 = no limit\)/);
});
