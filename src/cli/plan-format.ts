/**
 * The what-if plan for a terminal: a header, then per zone (and summed, with several zones)
 * a table of loads and a bar chart: the first-choice load in full blocks, what the named
 * failures add in light shade.
 */
import type { PlanReport, ServerLoad, ZonePlan } from '../api/plan';
import { formatTable } from './table';

export const BAR_WIDTH = 40;
const FULL = '█';
const ADDED = '░';

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function afterText(load: ServerLoad): string {
  return load.failed ? 'failed' : String(load.afterFailure);
}

function loadTable(servers: readonly ServerLoad[], withFailures: boolean): string {
  const header = withFailures ? ['SERVER', 'FIRST CHOICE', 'AFTER FAILURE'] : ['SERVER', 'FIRST CHOICE'];
  const rows = servers.map((load) => (withFailures ? [load.server, String(load.firstChoice), afterText(load)] : [load.server, String(load.firstChoice)]));
  // The server names left-aligned, the loads right-aligned.
  return formatTable([header, ...rows], (column) => (column === 0 ? 'left' : 'right'));
}

/** One bar per server, scaled so the largest load is BAR_WIDTH blocks. */
export function barChart(servers: readonly ServerLoad[], withFailures: boolean): string {
  const max = Math.max(0, ...servers.flatMap((load) => [load.firstChoice, load.afterFailure]));
  const width = Math.max(...servers.map((load) => load.server.length));
  const blocks = (value: number): number => (max === 0 ? 0 : Math.round((value * BAR_WIDTH) / max));
  const lines = servers.map((load) => {
    const first = blocks(load.firstChoice);
    const added = withFailures && !load.failed ? Math.max(0, blocks(load.afterFailure) - first) : 0;
    const bar = (FULL.repeat(first) + ADDED.repeat(added)).padEnd(BAR_WIDTH);
    const figures = withFailures ? `${load.firstChoice} -> ${afterText(load)}` : String(load.firstChoice);
    return `${load.server.padEnd(width)}  ${bar}  ${figures}`.trimEnd();
  });
  return lines.join('\n').concat('\n');
}

function worstLine(zone: ZonePlan): string {
  const worst = zone.worstSingleFailure;
  if (worst === null || zone.hosts === 0) return '';
  return `worst single failure: ${worst.server}, after which one server carries ${worst.maxLoad} (${worst.ratioToFair.toFixed(2)}x its fair share)\n`;
}

function section(title: string, servers: readonly ServerLoad[], failed: readonly string[], extra: string): string {
  const withFailures = failed.length > 0;
  const legend = withFailures ? `${FULL} first choice  ${ADDED} added by the failure of ${failed.join(', ')}\n` : `${FULL} first choice\n`;
  return `\n${title}\n${extra}${loadTable(servers, withFailures)}\n${barChart(servers, withFailures)}${legend}`;
}

export function formatPlan(report: PlanReport): string {
  const lines: string[] = [];
  const proposal = `${report.algorithm} over ${report.host}`;
  const now = `${report.current.algorithm} over ${report.current.host}`;
  lines.push(proposal === now ? `plan: ${now} (the current settings)\n` : `plan: ${proposal} (now: ${now})\n`);
  if (report.fail.length > 0) lines.push(`failed: ${report.fail.join(', ')}\n`);
  if (report.avoided.length > 0) lines.push(`avoided now (draining or down, sent last in every list): ${report.avoided.join(', ')}\n`);
  lines.push(
    `${plural(report.hosts, 'host')} in ${plural(report.zones.length, 'zone')}; ` +
      `${plural(report.firstServerChanges, 'agent')} would change first server if applied\n`,
  );
  if (report.unserved > 0) lines.push(`${plural(report.unserved, 'host')} would have no surviving server\n`);
  for (const zone of report.zones) {
    const title = `zone ${zone.zone}: ${plural(zone.hosts, 'host')}, ${zone.firstServerChanges} would change first server`;
    lines.push(section(title, zone.servers, report.fail, worstLine(zone)));
  }
  if (report.zones.length > 1) lines.push(section(`all zones: ${plural(report.hosts, 'host')}`, report.servers, report.fail, ''));
  return lines.join('');
}
