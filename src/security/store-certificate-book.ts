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
    for (const record of records) {
      if (record.serial === null || record.notAfter === null) this.entries.delete(record.guid);
      else this.entries.set(record.guid, { guid: record.guid, serial: record.serial, notAfter: record.notAfter });
    }
  }

  private async refresh(): Promise<void> {
    const during: CertifiedRecord[] = [];
    this.during = during;
    try {
      const records = await this.store.listCertified();
      this.entries = new Map();
      this.apply(records);
      this.apply(during.splice(0)); // committed after the read began: newer than what it returned
    } finally {
      if (this.during === during) this.during = undefined;
    }
  }

  /** An unavailable store is not a fault: its resync, once it is back, reads again. */
  private failed(error: unknown): void {
    if (!(error instanceof StoreUnavailableError)) this.onError(error);
  }
}
