/**
 * agent.properties, read as java.util.Properties reads it and updated without disturbing it.
 *
 * CloudStack rewrote the whole file on every update, losing comments and order. Here the
 * document keeps every physical line as it was read; `set` re-renders only the logical line
 * of the key it changes (or appends one), so an operator's comments, blank lines, unknown
 * keys, separator style and order survive every update, byte for byte.
 *
 * Keys the agent uses:
 * - `host`: the server list, `M1,M2,M3@algorithm` (as the server sends it) or a bare
 *   `M1,M2,M3`; the first entry is the preferred host.
 * - `host.lb.check.interval`: seconds between preferred-host checks, as the server said; 0 = off.
 * - `port`: port for `host` entries that name none (default 8250, DEFAULT_AGENT_PORT in src/protocol/limits).
 * - `guid`: this host's identity, generated and saved on first start if missing.
 * - `zone`: the zone this host registers in.
 * TLS keys are added by the agent's TLS support.
 *
 * Files are read and written as ISO-8859-1, as Properties.load(InputStream) reads them: every
 * byte maps to one character, so unchanged lines are written back exactly, whatever their
 * encoding; values set here escape anything outside printable ASCII as \uXXXX.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../src/util/atomic-file';

export const AGENT_KEY_HOST = 'host';
export const AGENT_KEY_CHECK_INTERVAL = 'host.lb.check.interval';
export const AGENT_KEY_PORT = 'port';
export const AGENT_KEY_GUID = 'guid';
export const AGENT_KEY_ZONE = 'zone';

export type PropertiesErrorCode = 'bad_escape' | 'not_latin1';

export class PropertiesError extends Error {
  constructor(
    readonly code: PropertiesErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PropertiesError';
  }
}

/** Comment and blank lines: kept verbatim, never interpreted. */
interface TextEntry {
  kind: 'text';
  raw: string;
}

interface PropertyEntry {
  kind: 'property';
  /** The exact source text of the logical line: every physical line with its terminator. */
  raw: string;
  key: string;
  value: string;
  /** Leading whitespace, key and separator as written: kept when the value is replaced. */
  head: string;
  /** Whether `head` holds a `=` or `:`; without one, a value starting with either must be escaped. */
  hasSeparator: boolean;
  /** The terminator of the line's last physical line ('' at the end of a file without one). */
  eol: string;
  /** The line ends the file on a continuation backslash: text appended after it would join it. */
  continuesIntoEnd: boolean;
}

type Entry = TextEntry | PropertyEntry;

const WHITESPACE = new Set([' ', '\t', '\f']);

export class PropertiesDoc {
  /** Terminator used for appended lines: the file's own (its first), else '\n'. */
  private readonly eol: string;

  constructor(
    private readonly entries: Entry[],
    eol: string,
  ) {
    this.eol = eol;
  }

  /** The value of `key`; when the key occurs more than once the last occurrence wins, as in Java. */
  get(key: string): string | undefined {
    return this.lastEntryFor(key)?.value;
  }

  /** Every distinct key, in order of first appearance. */
  keys(): string[] {
    const keys = new Set<string>();
    for (const entry of this.entries) if (entry.kind === 'property') keys.add(entry.key);
    return [...keys];
  }

  /**
   * Set `key` to `value`: the key's (last) logical line is re-rendered in place, keeping its
   * indentation, key spelling and separator; an absent key is appended as `key=value`.
   */
  set(key: string, value: string): void {
    const existing = this.lastEntryFor(key);
    if (existing) {
      if (existing.value === value) return;
      existing.value = value;
      existing.raw = existing.head + escapeValue(value, existing.hasSeparator) + existing.eol;
      existing.continuesIntoEnd = false;
      return;
    }
    this.appendProperty(key, value);
  }

  toString(): string {
    return this.entries.map((entry) => entry.raw).join('');
  }

  private lastEntryFor(key: string): PropertyEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i]!;
      if (entry.kind === 'property' && entry.key === key) return entry;
    }
    return undefined;
  }

  private appendProperty(key: string, value: string): void {
    const last = this.entries[this.entries.length - 1];
    if (last && !endsWithTerminator(last.raw)) {
      last.raw += this.eol;
      if (last.kind === 'property') last.eol = this.eol;
    }
    // A blank line ends a continuation, so the appended line stays a line of its own.
    if (last?.kind === 'property' && last.continuesIntoEnd) {
      last.raw += this.eol;
      last.continuesIntoEnd = false;
    }
    const head = escapeKey(key) + '=';
    this.entries.push({
      kind: 'property',
      raw: head + escapeValue(value, true) + this.eol,
      key,
      value,
      head,
      hasSeparator: true,
      eol: this.eol,
      continuesIntoEnd: false,
    });
  }
}

interface PhysicalLine {
  content: string;
  eol: string;
  number: number;
}

/** Parse properties text; throws PropertiesError('bad_escape') on a malformed \uXXXX, as Java does. */
export function parseProperties(text: string): PropertiesDoc {
  const lines = splitLines(text);
  const entries: Entry[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    const indent = leadingWhitespace(first.content);
    const stripped = first.content.slice(indent.length);
    if (stripped === '' || stripped[0] === '#' || stripped[0] === '!') {
      // Comments are recognised only here, at the start of a logical line, and never continue.
      entries.push({ kind: 'text', raw: first.content + first.eol });
      i++;
      continue;
    }
    let raw = first.content + first.eol;
    let logical = stripped;
    let last = first;
    let continuesIntoEnd = false;
    while (endsWithOddBackslashes(logical)) {
      logical = logical.slice(0, -1);
      if (i + 1 >= lines.length) {
        continuesIntoEnd = true;
        break;
      }
      last = lines[++i]!;
      raw += last.content + last.eol;
      logical += last.content.slice(leadingWhitespace(last.content).length);
    }
    i++;
    const split = splitKeyValue(logical);
    entries.push({
      kind: 'property',
      raw,
      key: unescape(logical.slice(0, split.keyEnd), first.number),
      value: unescape(logical.slice(split.valueStart), first.number),
      head: indent + logical.slice(0, split.valueStart) + (split.hasSeparator || split.keyEnd < split.valueStart ? '' : '='),
      hasSeparator: split.hasSeparator || split.keyEnd === split.valueStart,
      eol: last.eol,
      continuesIntoEnd,
    });
  }
  return new PropertiesDoc(entries, lines.find((line) => line.eol !== '')?.eol ?? '\n');
}

function splitLines(text: string): PhysicalLine[] {
  const lines: PhysicalLine[] = [];
  const terminator = /\r\n|\r|\n/g;
  let start = 0;
  for (let match = terminator.exec(text); match; match = terminator.exec(text)) {
    lines.push({ content: text.slice(start, match.index), eol: match[0], number: lines.length + 1 });
    start = match.index + match[0].length;
  }
  if (start < text.length) lines.push({ content: text.slice(start), eol: '', number: lines.length + 1 });
  return lines;
}

function leadingWhitespace(s: string): string {
  let n = 0;
  while (n < s.length && WHITESPACE.has(s[n]!)) n++;
  return s.slice(0, n);
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0;
  while (n < s.length && s[s.length - 1 - n] === '\\') n++;
  return n % 2 === 1;
}

function endsWithTerminator(s: string): boolean {
  return s.endsWith('\n') || s.endsWith('\r');
}

/** The key ends at the first unescaped `=`, `:` or whitespace; the value starts after the separator and its whitespace (java.util.Properties.load0). */
function splitKeyValue(logical: string): { keyEnd: number; valueStart: number; hasSeparator: boolean } {
  let keyEnd = 0;
  let valueStart = logical.length;
  let hasSeparator = false;
  let precedingBackslash = false;
  while (keyEnd < logical.length) {
    const c = logical[keyEnd]!;
    if (!precedingBackslash && (c === '=' || c === ':')) {
      valueStart = keyEnd + 1;
      hasSeparator = true;
      break;
    }
    if (!precedingBackslash && WHITESPACE.has(c)) {
      valueStart = keyEnd + 1;
      break;
    }
    precedingBackslash = c === '\\' ? !precedingBackslash : false;
    keyEnd++;
  }
  while (valueStart < logical.length) {
    const c = logical[valueStart]!;
    if (!WHITESPACE.has(c)) {
      if (hasSeparator || (c !== '=' && c !== ':')) break;
      hasSeparator = true;
    }
    valueStart++;
  }
  return { keyEnd, valueStart, hasSeparator };
}

const UNESCAPED: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f' };

function unescape(s: string, lineNumber: number): string {
  // Values can be large (certificates, long lists): copy the runs between escapes in slices.
  let out = '';
  let from = 0;
  for (let i = s.indexOf('\\'); i !== -1; i = s.indexOf('\\', from)) {
    out += s.slice(from, i);
    // A lone trailing backslash cannot reach here: the reader consumed it as a continuation.
    const next = s[i + 1]!;
    if (next === 'u') {
      const hex = s.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new PropertiesError('bad_escape', `line ${lineNumber}: malformed \\uxxxx escape: \\u${hex}`);
      }
      out += String.fromCharCode(parseInt(hex, 16));
      from = i + 6;
    } else {
      out += UNESCAPED[next] ?? next;
      from = i + 2;
    }
  }
  return out + s.slice(from);
}

const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\f': '\\f' };

/** Backslash, the named controls and anything outside printable ASCII. */
function escapeChar(c: string): string {
  return ESCAPED[c] ?? '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
}

const MUST_ESCAPE_IN_VALUE = /[\\\t\n\r\f]|[^\x20-\x7e]/g;
const MUST_ESCAPE_IN_KEY = /[ =:]|[\\\t\n\r\f]|[^\x20-\x7e]/g;

function escapeKey(key: string): string {
  const escaped = key.replace(MUST_ESCAPE_IN_KEY, (c) => (c === ' ' || c === '=' || c === ':' ? '\\' + c : escapeChar(c)));
  // Only at the start of a line do # and ! mean a comment.
  return escaped.startsWith('#') || escaped.startsWith('!') ? '\\' + escaped : escaped;
}

/** `separatorWritten`: the head holds `=`/`:`; otherwise a leading `=`/`:` would be read as the separator. */
function escapeValue(value: string, separatorWritten: boolean): string {
  const escaped = value.replace(MUST_ESCAPE_IN_VALUE, escapeChar);
  // Leading whitespace would be skipped as part of the separator.
  const first = escaped[0];
  return first === ' ' || (!separatorWritten && (first === '=' || first === ':')) ? '\\' + escaped : escaped;
}

export async function loadPropertiesFile(filePath: string): Promise<PropertiesDoc> {
  return parseProperties(await readFile(filePath, 'latin1'));
}

/** Save atomically and durably; throws PropertiesError('not_latin1') for text that ISO-8859-1 cannot hold. */
export async function savePropertiesFile(filePath: string, doc: PropertiesDoc): Promise<void> {
  const text = doc.toString();
  const bad = /[^\u0000-\u00ff]/.exec(text);
  if (bad) {
    throw new PropertiesError(
      'not_latin1',
      `${filePath}: character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} cannot be written in ISO-8859-1`,
    );
  }
  await writeFileAtomic(filePath, Buffer.from(text, 'latin1'));
}
