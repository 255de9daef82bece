/** The tables of `scale` (issue 12): one row per step, then the registry's cost. */
import type { ScaleResult } from '../results';
import { fmtBytes, fmtInt, fmtMs, type TableModel } from './model';

export function scaleTables(result: ScaleResult): TableModel[] {
  return [
    {
      title: `scale: one cluster-mode server, ${fmtInt(result.hosts)} registered hosts, ${fmtInt(result.connected)} held connected, ${result.algorithm}; a probe agent pings every 20 ms`,
      head: ['Step', 'Probe silence (max)', 'Probe drops', 'Server loop max', 'Probe loop max', 'Action', 'Last ack', 'Frames to held', 'Detail'],
      rows: result.steps.map((s) => [
        s.name,
        fmtMs(s.probeSilenceMs),
        String(s.probeDrops),
        fmtMs(s.serverLoopMaxMs),
        fmtMs(s.probeLoopMaxMs),
        fmtMs(s.actionMs),
        fmtMs(s.lastAckMs),
        fmtInt(s.framesToHeld),
        s.detail,
      ]),
    },
    {
      title: 'scale: the registry',
      head: ['Registration (connect, hello, welcome, close)', 'Restart serves again', 'RSS empty', `RSS with ${fmtInt(result.hosts)} hosts`, 'RSS per host', 'Notes'],
      rows: [
        [
          `${fmtInt(result.hosts)} in ${fmtMs(result.registration.ms)} (${fmtInt(result.registration.rate)}/s, ${result.registration.errors} errors)`,
          fmtMs(result.restartServesMs),
          fmtBytes(result.rssEmptyBytes),
          fmtBytes(result.rssWithHostsBytes),
          fmtBytes(result.rssPerHostBytes),
          result.notes.join('; '),
        ],
      ],
    },
  ];
}
