/**
 * The serials this server refuses: those of the CRL file it reads (--ca-dir DIR's ca.crl or
 * --tls-crl FILE, replaced as a whole on reload). A handshake asks `has` once, from memory.
 *
 * Each change reports the serials that were not refused before, so the caller drops the
 * agents connected with them; a serial that leaves the file (an operator edited it) is
 * refused no more from then on, but nobody it dropped is called back.
 */
import type { Crl } from './crl';

export class RevocationList {
  private fromFile = new Set<string>();

  has(serial: string): boolean {
    return this.fromFile.has(serial);
  }

  /** Serials refused (the metric). */
  get size(): number {
    return this.fromFile.size;
  }

  /** The CRL file's list replaces the previous one; returns the serials newly refused. */
  replaceFile(crl: Crl | undefined): string[] {
    const next = new Set((crl?.entries ?? []).map((entry) => entry.serial));
    const added = [...next].filter((serial) => !this.has(serial));
    this.fromFile = next;
    return added;
  }
}
