/**
 * The certificate book of a cluster (CertificateRegistry: PostgreSQL's certified_guids), so
 * trust on first enrolment holds across every server: an enrolment is a claim PostgreSQL
 * decides (of two servers enrolling one guid at once, one wins; the other refuses), and a guid
 * certified or reset on one server is known to the others at once.
 *
 * Reads stay synchronous (a handshake asks once, from memory): the map is read whole at open
 * and after each store `resync` (a lost LISTEN, an outage), and kept by the `certified`
 * changes other servers announce; this server's own writes are applied as it makes them (its
 * announcements are skipped by the feed).
 */
import type { CertifiedRecord, CertificateRegistry, Store, StoreChange } from '../store/types';
import { StoreUnavailableError } from '../store/types';
import type { CertificateBook, CertificateEntry } from './certificate-book';

export function isCertificateRegistry(store: Store): store is Store & CertificateRegistry {
  const candidate = store as Partial<CertificateRegistry>;
  return typeof candidate.claimCertificate === 'function' && typeof candidate.listCertified === 'function' && typeof candidate.listRevoked === 'function';
}

/**
 * Guids read per statement when the book is read whole (at open, after a resync): 1 000 rows
 * parse and apply in well under 100 ms on a loaded 2-core machine (5 000 took 74-126 ms at
 * load 3.5, 1 000 took 17-35 ms, for 100 000 guids).
 */
const REFRESH_PAGE = 1_000;

/** A record as committed: held (set) or reset (removed). */
function setRecord(entries: Map<string, CertificateEntry>, record: CertifiedRecord): void {
  if (record.serial === null || record.notAfter === null) entries.delete(record.guid);
  else entries.set(record.guid, { guid: record.guid, serial: record.serial, notAfter: record.notAfter });
}

export class StoreCertificateBook implements CertificateBook {
  private entries = new Map<string, CertificateEntry>();
  /** While a whole read is in flight: the changes delivered meanwhile, applied again after it. */
  private during: CertifiedRecord[] | undefined;
  private unsubscribe: () => void = () => undefined;

  private constructor(
    private readonly store: Store & CertificateRegistry,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Subscribes, then reads every certified guid (a failure here fails the start). */
  static async open(store: Store & CertificateRegistry, onError: (error: unknown) => void): Promise<StoreCertificateBook> {
    const book = new StoreCertificateBook(store, onError);
    book.unsubscribe = store.subscribe((change: StoreChange) => {
      if (change.kind === 'certified') book.apply(change.records);
      else if (change.kind === 'resync') void book.refresh().catch((error: unknown) => book.failed(error));
    });
    await book.refresh();
    return book;
  }

  get size(): number {
    return this.entries.size;
  }

  entry(guid: string): CertificateEntry | undefined {
    return this.entries.get(guid);
  }

  async record(entry: CertificateEntry): Promise<void> {
    if (this.entries.get(entry.guid)?.serial === entry.serial) return;
    this.entries.set(entry.guid, entry); // at once: a second connection in the same tick sees it
    await this.store.recordCertificate(entry);
  }

  async claim(entry: CertificateEntry): Promise<boolean> {
    const won = await this.store.claimCertificate(entry);
    // Lost: the winner's announcement brings its record; until then this server refuses too.
    if (won) this.entries.set(entry.guid, entry);
    return won;
  }

  async reset(guid: string): Promise<boolean> {
    const held = await this.store.resetCertificate(guid);
    this.entries.delete(guid);
    return held;
  }

  async close(): Promise<void> {
    this.unsubscribe();
  }

  private apply(records: readonly CertifiedRecord[]): void {
    this.during?.push(...records);
    for (const record of records) setRecord(this.entries, record);
  }

  /**
   * Reads the whole book a page at a time (each page its own statement, as the hosts' resync
   * does, so no turn of the event loop parses and applies 100 000 rows) into a new map, swapped
   * in at the end; the one in use keeps answering meanwhile.
   */
  private async refresh(): Promise<void> {
    const during: CertifiedRecord[] = [];
    this.during = during;
    try {
      const next = new Map<string, CertificateEntry>();
      for (let after: number | undefined = 0; after !== undefined; ) {
        const page: { records: CertifiedRecord[]; next: number | undefined } = await this.store.listCertified(after, REFRESH_PAGE);
        for (const record of page.records) setRecord(next, record);
        after = page.next;
      }
      // Committed after the read began: newer than what it returned.
      for (const record of during) setRecord(next, record);
      this.entries = next;
    } finally {
      if (this.during === during) this.during = undefined;
    }
  }

  /** An unavailable store is not a fault: its resync, once it is back, reads again. */
  private failed(error: unknown): void {
    if (!(error instanceof StoreUnavailableError)) this.onError(error);
  }
}
