/**
 * Text tables for the client commands: each column as wide as its widest cell, columns two
 * spaces apart, no trailing spaces.
 */
export type Alignment = 'left' | 'right';

/** `rows[0]` is the header; `align` says how each column (by index) is padded. */
export function formatTable(rows: readonly (readonly string[])[], align: (column: number) => Alignment = () => 'left'): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => (align(column) === 'right' ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return `${rows.map(line).join('\n')}\n`;
}
