/**
 * Tables on the terminal in autocannon's style: cli-table3 (autocannon's table library),
 * cyan headers when the stream has colour, none otherwise.
 */
import Table from 'cli-table3';
import type { TableModel } from './model';

export function renderTerminal(models: readonly TableModel[], color: boolean): string {
  return models
    .map((m) => {
      const table = new Table({ head: m.head, style: color ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] } });
      for (const row of m.rows) table.push(row);
      return `${m.title}\n${table.toString()}`;
    })
    .join('\n\n');
}
