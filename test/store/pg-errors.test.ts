import t from 'tap';
import { DatabaseError } from 'pg';
import { describeError, isUnavailable, PgStoreInputError, toStoreError } from '../../src/store/pg/errors';
import { StoreUnavailableError } from '../../src/store/types';
import { SettingsError } from '../../src/settings/types';

function databaseError(code: string, message = 'server said no'): DatabaseError {
  const err = new DatabaseError(message, 0, 'error');
  err.code = code;
  return err;
}

t.test('outages are told apart from answers', async (t) => {
  const outages: [string, unknown][] = [
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['connection terminated', new Error('Connection terminated unexpectedly')],
    ['admin shutdown', databaseError('57P01')],
    ['starting up', databaseError('57P03')],
    ['statement timeout', databaseError('57014')],
    ['too many connections', databaseError('53300')],
    ['bad password', databaseError('28P01')],
    ['no such database', databaseError('3D000')],
    ['connections not allowed', databaseError('55000')],
    ['connection exception', databaseError('08006')],
    ['already mapped', new StoreUnavailableError('down')],
  ];
  for (const [what, err] of outages) t.equal(isUnavailable(err), true, what);
  const answers: [string, unknown][] = [
    ['unique violation', databaseError('23505')],
    ['missing table', databaseError('42P01')],
    ['a bug in our code', new TypeError('x is undefined')],
    ['a refused setting', new SettingsError('bad')],
    ['refused input', new PgStoreInputError('bad')],
  ];
  for (const [what, err] of answers) t.equal(isUnavailable(err), false, what);
});

t.test('toStoreError maps outages to StoreUnavailableError and passes answers on', async (t) => {
  const mapped = toStoreError(databaseError('57P01', 'terminating connection due to administrator command'));
  t.same(mapped, new StoreUnavailableError('PostgreSQL unavailable: terminating connection due to administrator command (SQLSTATE 57P01)'));
  const answer = databaseError('23505');
  t.equal(toStoreError(answer), answer, 'the same error object');
  const already = new StoreUnavailableError('down');
  t.equal(toStoreError(already), already);
});

t.test('describeError gives one readable line', async (t) => {
  t.equal(describeError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED (ECONNREFUSED)');
  t.equal(describeError(new Error('plain')), 'plain');
  t.equal(describeError('a string'), 'a string');
});
