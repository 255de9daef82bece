/**
 * The admin API's bearer token, as the server and the CLI both find it: given explicitly
 * (--admin-token or AGENTLB_ADMIN_TOKEN), else DATA_DIR/admin.token, which is generated on
 * first start.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file';

export const ADMIN_TOKEN_FILE = 'admin.token';

export class AdminTokenError extends Error {
  readonly code = 'bad_admin_token';
  constructor(message: string) {
    super(message);
    this.name = 'AdminTokenError';
  }
}

export interface ResolvedToken {
  token: string;
  source: 'explicit' | 'file' | 'generated';
  /** The token file, when the token came from or went into one. */
  path?: string;
}

/** A token must fit one `Authorization: Bearer` header value. */
export const ADMIN_TOKEN_RULE = 'must be non-empty printable ASCII without spaces';

export function isUsableAdminToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}

export function checkToken(token: string, where: string): string | AdminTokenError {
  return isUsableAdminToken(token) ? token : new AdminTokenError(`${where} ${ADMIN_TOKEN_RULE}`);
}

export function tokenFilePath(dataDir: string): string {
  return path.join(dataDir, ADMIN_TOKEN_FILE);
}

/** Reads DATA_DIR/admin.token; undefined when it does not exist. */
export async function readTokenFile(dataDir: string): Promise<string | AdminTokenError | undefined> {
  const file = tokenFilePath(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return checkToken(text.trim(), file);
}

export async function resolveAdminToken(explicit: string | undefined, dataDir: string): Promise<ResolvedToken | AdminTokenError> {
  if (explicit !== undefined) {
    const checked = checkToken(explicit, 'the admin token');
    return checked instanceof AdminTokenError ? checked : { token: checked, source: 'explicit' };
  }
  const file = tokenFilePath(dataDir);
  const existing = await readTokenFile(dataDir);
  if (existing instanceof AdminTokenError) return existing;
  if (existing !== undefined) return { token: existing, source: 'file', path: file };
  const token = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Atomic and 0600: a crash never leaves an empty token file, and only the owner can read it.
  await writeFileAtomic(file, `${token}\n`, { mode: 0o600 });
  return { token, source: 'generated', path: file };
}
