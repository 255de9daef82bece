/**
 * The what-if planner's parameters (`GET /api/plan?algorithm=A&host=LIST&fail=M1,M2`), checked
 * and defaulted from the current settings. Every refusal names the parameter and the value.
 */
import { ALGORITHMS, algorithmByName } from '../lb/index';
import type { Algorithm } from '../lb/types';
import { HostListError } from '../protocol/host-list';
import { serverList } from '../settings/validate';
import { SETTING_ALGORITHM, SETTING_HOST, type Settings } from '../settings/types';

export const PLAN_PARAMETERS = ['algorithm', 'host', 'fail'] as const;

export interface PlanQuery {
  algorithm: Algorithm;
  /** The proposed (or current) `host` entries, as written. */
  servers: readonly string[];
  /** Servers taken as failed, each an entry of `servers`. */
  failed: readonly string[];
  /** Whether algorithm and host are the current settings (the server's own plans serve). */
  isCurrent: boolean;
}

/** A bad parameter: the route answers 400 with `message`. */
export class PlanQueryError extends Error {
  readonly code = 'bad_plan_parameter';
  constructor(message: string) {
    super(message);
    this.name = 'PlanQueryError';
  }
}

function show(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);
}

function single(params: URLSearchParams, name: string): string | undefined | PlanQueryError {
  const values = params.getAll(name);
  if (values.length > 1) return new PlanQueryError(`parameter ${name} is given ${values.length} times; give it once`);
  return values[0];
}

function parseFailed(text: string, servers: readonly string[]): string[] | PlanQueryError {
  const entries = text.split(',').map((entry) => entry.trim());
  const failed: string[] = [];
  for (const [index, entry] of entries.entries()) {
    if (entry === '') return new PlanQueryError(`fail ${show(text)} has an empty entry #${index + 1}`);
    if (!servers.includes(entry)) {
      return new PlanQueryError(`fail ${show(entry)} is not an entry of host (${servers.join(',')}); servers are named exactly as written there`);
    }
    if (failed.includes(entry)) return new PlanQueryError(`fail ${show(entry)} is given twice`);
    failed.push(entry);
  }
  return failed;
}

/** The query of `url`, against the current `settings`. */
export function parsePlanQuery(params: URLSearchParams, settings: Readonly<Settings>): PlanQuery | PlanQueryError {
  for (const name of new Set(params.keys())) {
    if (!(PLAN_PARAMETERS as readonly string[]).includes(name)) {
      return new PlanQueryError(`unknown parameter ${show(name)} (known: ${PLAN_PARAMETERS.join(', ')})`);
    }
  }
  const algorithmText = single(params, 'algorithm');
  const hostText = single(params, 'host');
  const failText = single(params, 'fail');
  for (const value of [algorithmText, hostText, failText]) if (value instanceof PlanQueryError) return value;

  const algorithmName = (algorithmText as string | undefined) ?? settings[SETTING_ALGORITHM];
  const algorithm = algorithmByName(algorithmName);
  if (algorithm === undefined) {
    return new PlanQueryError(`algorithm ${show(algorithmName)} is not one of ${[...ALGORITHMS.keys()].join(', ')}`);
  }
  const host = (hostText as string | undefined) ?? settings[SETTING_HOST];
  const servers = serverList(host);
  if (servers instanceof HostListError) return new PlanQueryError(`host ${show(host)} is refused: ${servers.message}`);
  const failed = failText === undefined ? [] : parseFailed(failText as string, servers);
  if (failed instanceof PlanQueryError) return failed;
  const isCurrent = algorithm.name === settings[SETTING_ALGORITHM] && servers.join(',') === settings[SETTING_HOST];
  return { algorithm, servers, failed, isCurrent };
}
