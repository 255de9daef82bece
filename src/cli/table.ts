/**
 * Text tables for the client commands: each column as wide as its widest cell, columns two
 * spaces apart, no trailing spaces. Every cell is made printable first: guids and zones are
 * chosen by agents, and an ESC, CR/LF or BEL in one must not reach the operator's terminal
 * (where it could move the cursor, rewrite lines or hide a row).
 */
export type Alignment = 'left' | 'right';

/**
 * C0 controls, DEL, C1 controls, and the Unicode format characters that reorder or hide text
 * (bidi embeddings/overrides/isolates, zero-width marks, the BOM): a terminal acts on them.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\\]/g;

/** `text` with each unprintable character as `\xNN` or `\uNNNN` (and `\` as `\\`, so the escape is unambiguous). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    if (char === '\\') return '\\\\';
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** `rows[0]` is the header; `align` says how each column (by index) is padded. */
export function formatTable(rows: readonly (readonly string[])[], align: (column: number) => Alignment = () => 'left'): string {
  const cells = rows.map((row) => row.map(printable));
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => (align(column) === 'right' ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return `${cells.map(line).join('\n')}\n`;
}
