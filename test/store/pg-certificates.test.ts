/**
 * The certificate half of the PostgreSQL store (schema version 9), two PgStores on one real
 * database as two servers would be, and the security pieces built on it:
 *
 * - claimCertificate: of many claims of one guid at once (both stores, several each), exactly
 *   one wins; a reset row (serial NULL) can be claimed again, a held one cannot;
 * - the other store hears of each change as `certified` (a reset with serial null) and of each
 *   revocation as `revoked`, its own changes skipped; the announcements parse;
 * - StoreCertificateBook on the second store knows a guid the first claimed or reset (the
 *   roll-out hijack check reads it), and StoreRevocations adds announced serials and, after a
 *   resync, those committed with no announcement at all.
 */
import { Client } from 'pg';
import t from 'tap';
import { startPostgres } from '../../native-bench/postgres';
import { insertRevocations } from '../../src/store/pg/certificates';
import { parseAnnouncement } from '../../src/store/pg/notify';
import { RevocationList } from '../../src/security/revocations';
import { StoreCertificateBook } from '../../src/security/store-certificate-book';
import { StoreRevocations } from '../../src/security/store-revocations';
import type { StoreChange } from '../../src/store/types';
import { openStore, sql, type OpenedStore } from '../helpers/pg-store-fixtures';

const NOT_AFTER = '2030-01-01T00:00:00.000Z';
const held = (guid: string, serial: string) => ({ guid, serial, notAfter: NOT_AFTER });

t.test('announcements of certificates parse', async (t) => {
  t.same(parseAnnouncement('{"from":"i-1","kind":"certified","ids":[3,4]}'), { from: 'i-1', kind: 'certified', ids: [3, 4] });
  t.same(parseAnnouncement('{"from":null,"kind":"revoked","ids":[9]}'), { from: null, kind: 'revoked', ids: [9] });
  t.match(parseAnnouncement('{"kind":"revoked","ids":[]}'), { code: 'bad_announcement', message: 'revoked announcement has no valid "ids"' });
});

t.test('two stores on one database', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const a: OpenedStore = await openStore(pg.url);
  const b: OpenedStore = await openStore(pg.url);
  t.teardown(async () => {
    await a.store.close();
    await b.store.close();
  });

  await t.test('of concurrent claims of one guid exactly one wins', async (t) => {
    const claims = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).store.claimCertificate(held('g-race', `a${i}`)));
    const won = await Promise.all(claims);
    t.equal(won.filter(Boolean).length, 1, JSON.stringify(won));
    const winner = `a${won.indexOf(true)}`;
    t.same(await sql(pg.url, 'SELECT guid, serial FROM certified_guids WHERE guid = $1', ['g-race']), [{ guid: 'g-race', serial: winner }]);
    t.equal(await b.store.claimCertificate(held('g-race', 'b9')), false, 'held: a later claim loses too');
    t.equal(await a.store.resetCertificate('g-race'), true, 'reset');
    t.equal(await a.store.resetCertificate('g-race'), false, 'a second reset finds nothing held');
    t.equal(await b.store.claimCertificate(held('g-race', 'b10')), true, 'a reset guid can be claimed again');
    t.same(await a.store.listCertified(0, 10), { records: [{ guid: 'g-race', serial: 'b10', notAfter: NOT_AFTER }], next: undefined });
  });

  await t.test('the other store hears of claims, resets and revocations; its own are skipped', async (t) => {
    const fromB = b.recorder.mark();
    const fromA = a.recorder.mark();
    await a.store.claimCertificate(held('g-heard', 'c1'));
    t.same(
      await b.recorder.waitFor((c) => c.kind === 'certified' && c.records.some((r) => r.guid === 'g-heard'), fromB),
      { kind: 'certified', records: [{ guid: 'g-heard', serial: 'c1', notAfter: NOT_AFTER }] },
    );
    await a.store.resetCertificate('g-heard');
    t.same(
      await b.recorder.waitFor((c) => c.kind === 'certified' && c.records.some((r) => r.guid === 'g-heard' && r.serial === null), fromB),
      { kind: 'certified', records: [{ guid: 'g-heard', serial: null, notAfter: null }] },
    );
    // As `ca revoke --store` writes them: no instance tag, so both stores hear it.
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    const added = await insertRevocations(client, [{ serial: 'dead01', name: 'g-heard', notAfter: NOT_AFTER }], 'test');
    await client.end();
    t.same(added, ['dead01']);
    for (const opened of [a, b]) {
      t.same(await opened.recorder.waitFor((c) => c.kind === 'revoked', opened === a ? fromA : fromB), { kind: 'revoked', serials: ['dead01'] });
    }
    t.notOk(
      // Meaningful: NOTIFYs reach a LISTEN connection in commit order, so a's own claim and reset
      // (committed before the revocation it has heard) would be here. b's claims of the subtest
      // before may still arrive: only g-heard is this subtest's.
      a.recorder.since(fromA).some((c: StoreChange) => c.kind === 'certified' && c.records.some((r) => r.guid === 'g-heard')),
      'the claiming store does not hear its own changes',
    );
    t.same(await b.store.listRevoked(), ['dead01']);
  });

  await t.test('StoreCertificateBook and StoreRevocations follow the other server', async (t) => {
    const errors: unknown[] = [];
    const book = await StoreCertificateBook.open(b.store, (error) => errors.push(error));
    const list = new RevocationList();
    const revoked: string[][] = [];
    let onRevoked: ((serials: string[]) => void) | undefined;
    const shared = await StoreRevocations.open(
      b.store,
      list,
      (serials) => {
        revoked.push(serials);
        onRevoked?.(serials);
      },
      (error) => errors.push(error),
    );
    t.teardown(async () => {
      await book.close();
      shared.close();
    });
    t.same(book.entry('g-race'), held('g-race', 'b10'), 'read whole at open');
    t.same(revoked, [['dead01']], 'the serials the store held at open, newly refused');
    t.ok(list.has('dead01'));

    const mark = b.recorder.mark();
    await a.store.claimCertificate(held('g-book', 'd1'));
    await b.recorder.waitFor((c) => c.kind === 'certified' && c.records.some((r) => r.guid === 'g-book'), mark);
    t.same(book.entry('g-book'), held('g-book', 'd1'), 'a guid the other server enrolled is known here (roll-out hijack refused)');
    t.equal(await book.claim(held('g-book', 'd2')), false, 'and cannot be enrolled here with the token');
    await a.store.resetCertificate('g-book');
    await b.recorder.waitFor((c) => c.kind === 'certified' && c.records.some((r) => r.guid === 'g-book' && r.serial === null), mark);
    t.equal(book.entry('g-book'), undefined, 'reset on the other server: free here');

    // Committed with triggers off: no announcement. The next resync reads it.
    await sql(pg.url, `DO $$ BEGIN SET LOCAL session_replication_role = replica; INSERT INTO revocations (serial) VALUES ('beef02'); END $$`);
    t.notOk(list.has('beef02'), 'not known before the resync');
    const refused = new Promise<string[]>((resolve) => (onRevoked = resolve));
    const resynced = b.recorder.waitFor((c) => c.kind === 'resync', b.recorder.mark());
    const [{ killed }] = await sql<{ killed: number }>(pg.url, `SELECT count(pg_terminate_backend(pid))::int AS killed FROM pg_stat_activity WHERE application_name = $1`, [`agentlb-listen/${b.store.instanceId}`]);
    t.equal(killed, 1);
    await resynced;
    t.same(await refused, ['beef02'], 'newly refused at the resync');
    t.ok(list.has('beef02'));
    t.same(errors, []);
  });

  await t.test('the book is read a page at a time: every guid of more than one page', async (t) => {
    t.same((await a.store.listCertified(0, 1)).records.length, 1);
    await sql(pg.url, `INSERT INTO certified_guids (guid, serial, not_after) SELECT 'bulk-' || g, to_hex(g), now() + interval '1 day' FROM generate_series(1, 5001) g`);
    const [{ count }] = await sql<{ count: number }>(pg.url, 'SELECT count(*)::int AS count FROM certified_guids WHERE serial IS NOT NULL');
    const book = await StoreCertificateBook.open(b.store, (error) => t.fail(String(error)));
    t.equal(book.size, count, `${count} guids, two pages of 5 000`);
    t.same(book.entry('bulk-5001'), { guid: 'bulk-5001', serial: (5001).toString(16), notAfter: book.entry('bulk-5001')!.notAfter });
    await book.close();
  });
});
