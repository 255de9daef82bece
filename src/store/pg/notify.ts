/**
 * The announcements the schema's triggers send on NOTIFY (see schema.ts), and their parser.
 *
 * Payloads name what changed, never the data itself: a receiver reads the rows it needs, so
 * no payload comes near PostgreSQL's 8000-byte limit whatever the settings or host count.
 */

/** The LISTEN/NOTIFY channel every agentlb server uses. */
export const NOTIFY_CHANNEL = 'agentlb';

/**
 * Host ids per announcement. Even at the largest bigint (19 digits plus a comma) 300 ids
 * take 6000 bytes, leaving room for the envelope under the 8000-byte limit.
 */
export const NOTIFY_IDS_PER_MESSAGE = 300;

interface AnnouncementBase {
  /** The writing server's instance id; null when written by something else (e.g. psql). */
  from: string | null;
}

export type Announcement =
  | (AnnouncementBase & { kind: 'settings'; version: number })
  | (AnnouncementBase & { kind: 'host-added'; ids: number[] })
  | (AnnouncementBase & { kind: 'host-removed'; ids: number[] })
  | (AnnouncementBase & { kind: 'host-moved'; ids: number[] })
  | (AnnouncementBase & { kind: 'drains' })
  | (AnnouncementBase & { kind: 'rebalance' })
  | (AnnouncementBase & { kind: 'certified'; ids: number[] })
  | (AnnouncementBase & { kind: 'revoked'; ids: number[] });

/** A payload on the channel that is not an announcement this code understands. */
export class AnnouncementError extends Error {
  readonly code = 'bad_announcement';
  constructor(message: string) {
    super(message);
    this.name = 'AnnouncementError';
  }
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Parse one payload; a bad one is returned as an AnnouncementError value, never thrown. */
export function parseAnnouncement(payload: string): Announcement | AnnouncementError {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return new AnnouncementError('announcement is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new AnnouncementError('announcement is not an object');
  }
  const fields = value as Record<string, unknown>;
  const from = fields.from ?? null;
  if (from !== null && typeof from !== 'string') {
    return new AnnouncementError('announcement "from" is not a string or null');
  }
  switch (fields.kind) {
    case 'settings':
      if (typeof fields.version !== 'number' || !Number.isSafeInteger(fields.version) || fields.version < 0) {
        return new AnnouncementError('settings announcement has no valid "version"');
      }
      return { from, kind: 'settings', version: fields.version };
    case 'host-added':
    case 'host-removed':
    case 'host-moved':
    case 'certified':
    case 'revoked':
      if (!Array.isArray(fields.ids) || fields.ids.length === 0 || !fields.ids.every(isId)) {
        return new AnnouncementError(`${fields.kind} announcement has no valid "ids"`);
      }
      return { from, kind: fields.kind, ids: fields.ids };
    case 'drains':
      return { from, kind: 'drains' };
    case 'rebalance':
      return { from, kind: 'rebalance' };
    default:
      return new AnnouncementError(`unknown announcement kind ${JSON.stringify(fields.kind) ?? 'undefined'}`);
  }
}
