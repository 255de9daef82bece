/**
 * `agentlb server --config FILE`: the server's options in a file, in the Java-properties
 * syntax of agent.properties (the same parser, agent/properties.ts), one key per flag, named
 * as the flag without its dashes (`listen=0.0.0.0:8250`, `require-client-cert=true`).
 *
 * Precedence: a flag wins over its environment variable (AGENTLB_ADMIN_TOKEN, ...), which wins
 * over the file, which wins over the defaults. The file is the place for secrets (tokens, the
 * store URL with its password): a flag shows in `ps`, the file can be mode 0600.
 *
 * This module merges the three sources into the flag values the server command already checks,
 * remembering where each came from, so that an error names the file and `--check-config` can
 * print the effective configuration with its sources and with secrets masked.
 */
import { open } from 'node:fs/promises';
import { parseProperties, PropertiesError } from '../../agent/properties';
import { UsageError } from './args';

export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;
export type FlagValues = Record<string, string | boolean | undefined>;

export type Source = { kind: 'flag' } | { kind: 'env'; variable: string } | { kind: 'file'; file: string };

/** Flags that say what to do with a configuration, not what it is: never in a file. */
const COMMAND_ONLY = new Set(['config', 'check-config', 'help']);

/** Options read from the environment when their flag is absent; the variable wins over the file. */
export const ENVIRONMENT_OF: Readonly<Record<string, string>> = {
  'admin-token': 'AGENTLB_ADMIN_TOKEN',
  'agent-token': 'AGENTLB_AGENT_TOKEN',
  store: 'AGENTLB_STORE',
};

/** Printed as ******** by --check-config; the store URL has only its password masked. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['admin-token', 'agent-token']);

export interface ConfigFile {
  file: string;
  values: FlagValues;
  /** Permission bits: a file holding secrets should be 0600. */
  mode: number;
}

/** Reads FILE; every error (unreadable, bad syntax, unknown key, bad boolean) is a UsageError naming it. */
export async function readConfigFile(file: string, spec: FlagSpec): Promise<ConfigFile> {
  let text: string;
  let mode: number;
  try {
    // One open, then the mode and the text of that very file: a single error source (the
    // open's), and no window where the path could be swapped between the two reads.
    const handle = await open(file, 'r');
    try {
      mode = (await handle.stat()).mode & 0o777;
      text = await handle.readFile('latin1');
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new UsageError(`cannot read the config file ${file}: ${(error as Error).message}`);
  }
  let doc;
  try {
    doc = parseProperties(text);
  } catch (error) {
    if (error instanceof PropertiesError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
  const known = Object.keys(spec).filter((key) => !COMMAND_ONLY.has(key));
  const values: FlagValues = {};
  for (const key of doc.keys()) {
    const type = COMMAND_ONLY.has(key) ? undefined : spec[key]?.type;
    if (type === undefined) throw new UsageError(`${file}: unknown key ${JSON.stringify(key)} (keys are the server's flags without "--": ${known.join(', ')})`);
    const value = doc.get(key)!.trim();
    if (type === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`${file}: ${key} must be true or false, got ${JSON.stringify(value)}`);
      values[key] = value === 'true';
    } else {
      values[key] = value;
    }
  }
  return { file, values, mode };
}

export interface MergedConfig {
  values: FlagValues;
  sources: Map<string, Source>;
}

/** Flags over environment over file. The environment itself is read later, by each option. */
export function mergeConfig(flags: FlagValues, config: ConfigFile | undefined, env: NodeJS.ProcessEnv): MergedConfig {
  const values: FlagValues = {};
  const sources = new Map<string, Source>();
  for (const [key, value] of Object.entries(config?.values ?? {})) {
    values[key] = value;
    sources.set(key, { kind: 'file', file: config!.file });
  }
  for (const [key, variable] of Object.entries(ENVIRONMENT_OF)) {
    // AGENTLB_STORE= (empty) has always meant "not set"; an empty token is refused later.
    const set = env[variable] !== undefined && !(key === 'store' && env[variable] === '');
    if (set && flags[key] === undefined) {
      delete values[key];
      sources.set(key, { kind: 'env', variable });
    }
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined || COMMAND_ONLY.has(key)) continue;
    values[key] = value;
    sources.set(key, { kind: 'flag' });
  }
  return { values, sources };
}

/** `--listen must be ...` about a value from the file becomes `listen (in FILE) must be ...`. */
export function inFileTerms(error: UsageError, sources: ReadonlyMap<string, Source>): UsageError {
  const match = /^--([a-z0-9-]+)\b/.exec(error.message);
  const source = match === null ? undefined : sources.get(match[1]!);
  if (source?.kind !== 'file') return error;
  return new UsageError(`${match![1]} (in ${source.file})${error.message.slice(match![0].length)}`);
}

/** A store URL with its password (in the authority or as ?password=) replaced by ********. */
export function maskStoreUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password !== '') url.password = '********';
    if (url.searchParams.has('password')) url.searchParams.set('password', '********');
    return url.toString();
  } catch {
    return '********';
  }
}

function shown(key: string, value: string | boolean): string {
  if (SECRET_KEYS.has(key)) return '********';
  if (key === 'store' && typeof value === 'string') return maskStoreUrl(value);
  return String(value);
}

function describe(source: Source): string {
  if (source.kind === 'flag') return 'flag';
  return source.kind === 'env' ? `env ${source.variable}` : source.file;
}

/**
 * The effective configuration as a config file would hold it: every option, its value and
 * where the value came from; an option left to its default is a comment giving the default.
 * The environment's values are read here too (`env`), so the listing is what the server uses.
 */
export function formatEffectiveConfig(spec: FlagSpec, merged: MergedConfig, env: NodeJS.ProcessEnv, defaults: Readonly<Record<string, string>>): string {
  const lines: string[] = [];
  for (const key of Object.keys(spec).sort()) {
    if (COMMAND_ONLY.has(key)) continue;
    const source = merged.sources.get(key);
    const value = source?.kind === 'env' ? env[source.variable] : merged.values[key];
    if (source === undefined || value === undefined) {
      lines.push(`# ${key}: ${defaults[key] ?? 'default'}`);
    } else {
      lines.push(`${key}=${shown(key, value)}    # ${describe(source)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Whether a config file readable by others holds something secret. */
export function exposesSecrets(config: ConfigFile): boolean {
  const secret = Object.keys(config.values).some((key) => SECRET_KEYS.has(key)) || (typeof config.values['store'] === 'string' && maskStoreUrl(config.values['store']) !== config.values['store']);
  return secret && (config.mode & 0o077) !== 0;
}
