/**
 * The serials this server refuses: those of the CRL file it reads (--ca-dir DIR's ca.crl or
 * --tls-crl FILE, replaced as a whole on reload) and, in cluster mode, those the store holds
 * (store-revocations.ts: read whole at start and after a resync, added as announced). A
 * handshake asks `has` once, from memory.
 *
 * Each change reports the serials that were not refused before, so the caller drops the
 * agents connected with them; a serial that leaves the file or the store (an operator edited
 * it) is refused no more from then on, but nobody it dropped is called back.
 */
import type { Crl } from './crl';

export class RevocationList {
  private fromFile = new Set<string>();
  private fromStore = new Set<string>();

  has(serial: string): boolean {
    return this.fromFile.has(serial) || this.fromStore.has(serial);
  }

  /** Distinct serials refused (the metric); O(store revocations), asked at a scrape. */
  get size(): number {
    let extra = 0;
    for (const serial of this.fromStore) if (!this.fromFile.has(serial)) extra++;
    return this.fromFile.size + extra;
  }

  /** The CRL file's list replaces the previous one; returns the serials newly refused. */
  replaceFile(crl: Crl | undefined): string[] {
    const next = new Set((crl?.entries ?? []).map((entry) => entry.serial));
    const added = [...next].filter((serial) => !this.has(serial));
    this.fromFile = next;
    return added;
  }

  /** The store's whole list (at start, after a resync) replaces the previous one; returns those newly refused. */
  replaceStore(serials: Iterable<string>): string[] {
    const next = new Set(serials);
    const added = [...next].filter((serial) => !this.has(serial));
    this.fromStore = next;
    return added;
  }

  /** Serials the store announced; returns those newly refused. */
  addFromStore(serials: Iterable<string>): string[] {
    const added: string[] = [];
    for (const serial of serials) {
      if (!this.has(serial)) added.push(serial);
      this.fromStore.add(serial);
    }
    return added;
  }
}
