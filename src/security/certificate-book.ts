/**
 * Which guids hold a certificate: the memory behind "trust on first enrolment" and behind
 * refusing a certificate-less client that claims a certified guid (the roll-out hijack the
 * audit found: with --tls-ca but not --require-client-cert, a client with no certificate was
 * welcomed under a certified agent's guid and the real agent dropped).
 *
 * A guid becomes certified when it presents a valid certificate naming it, or when this
 * server signs one for it; it stays certified until an operator resets it
 * (`agentlb hosts reissue ID`). Reads are synchronous (a handshake asks once, from memory);
 * writes are appended to DATA_DIR/certificates.log (mode 0600), one JSON line each, fsynced
 * before they resolve, replayed at open. A line torn by a crash is dropped at the next open.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { readFileIfExists } from '../util/atomic-file';

export const CERTIFICATE_BOOK_FILE = 'certificates.log';

export interface CertificateEntry {
  guid: string;
  /** Hex serial of the newest certificate seen or issued for the guid. */
  serial: string;
  /** ISO-8601 end of its validity. */
  notAfter: string;
}

export interface CertificateBook {
  /** The guid's newest certificate, or undefined when it holds none (never had one, or was reset). */
  entry(guid: string): CertificateEntry | undefined;
  /** Records a certificate for its guid (seen or issued); resolves once durable. */
  record(entry: CertificateEntry): Promise<void>;
  /**
   * Records an enrolment's certificate only if the guid holds none; false when it does (then
   * nothing is written). With the cluster store this is decided by PostgreSQL, so of two
   * servers enrolling one guid at once exactly one wins (store-certificate-book.ts).
   */
  claim(entry: CertificateEntry): Promise<boolean>;
  /** Operator reset: the guid may enrol with the token alone again. False when it held none. */
  reset(guid: string): Promise<boolean>;
  /** How many guids hold a certificate (metrics). */
  readonly size: number;
  close(): Promise<void>;
}

type Line = { op: 'cert'; guid: string; serial: string; notAfter: string } | { op: 'reset'; guid: string };

/** The embedded book, in the data directory. */
export class FileCertificateBook implements CertificateBook {
  private readonly entries = new Map<string, CertificateEntry>();
  private writes: Promise<void> = Promise.resolve();
  private handle: FileHandle | undefined;

  private constructor(private readonly file: string) {}

  static async open(dataDir: string): Promise<FileCertificateBook> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const book = new FileCertificateBook(path.join(dataDir, CERTIFICATE_BOOK_FILE));
    const bytes = await readFileIfExists(book.file);
    let kept = 0;
    if (bytes !== undefined) {
      let start = 0;
      for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
        const line = parseLine(bytes.subarray(start, end).toString('utf8'));
        if (line === undefined) break; // torn or damaged: trust nothing after it
        book.apply(line);
        start = end + 1;
      }
      kept = start;
    }
    book.handle = await open(book.file, 'a+', 0o600);
    if (bytes !== undefined && kept < bytes.length) await book.handle.truncate(kept);
    return book;
  }

  get size(): number {
    return this.entries.size;
  }

  entry(guid: string): CertificateEntry | undefined {
    return this.entries.get(guid);
  }

  record(entry: CertificateEntry): Promise<void> {
    const current = this.entries.get(entry.guid);
    if (current !== undefined && current.serial === entry.serial) return this.writes;
    const line: Line = { op: 'cert', guid: entry.guid, serial: entry.serial, notAfter: entry.notAfter };
    this.apply(line); // in memory at once: a second connection in the same tick sees it
    return this.append(line);
  }

  async claim(entry: CertificateEntry): Promise<boolean> {
    if (this.entries.has(entry.guid)) return false;
    await this.record(entry);
    return true;
  }

  async reset(guid: string): Promise<boolean> {
    if (!this.entries.has(guid)) return false;
    const line: Line = { op: 'reset', guid };
    this.apply(line);
    await this.append(line);
    return true;
  }

  async close(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  private apply(line: Line): void {
    if (line.op === 'cert') this.entries.set(line.guid, { guid: line.guid, serial: line.serial, notAfter: line.notAfter });
    else this.entries.delete(line.guid);
  }

  /** Appends in call order, each fsynced before it resolves. */
  private append(line: Line): Promise<void> {
    const write = this.writes.then(async () => {
      if (this.handle === undefined) throw new Error(`${this.file} is closed`);
      await this.handle.appendFile(`${JSON.stringify(line)}\n`);
      await this.handle.datasync();
    });
    this.writes = write.catch(() => undefined);
    return write;
  }
}

function parseLine(text: string): Line | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { op, guid, serial, notAfter } = value as Record<string, unknown>;
  if (typeof guid !== 'string' || guid === '') return undefined;
  if (op === 'reset') return { op, guid };
  if (op === 'cert' && typeof serial === 'string' && typeof notAfter === 'string') return { op, guid, serial, notAfter };
  return undefined;
}
