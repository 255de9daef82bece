/**
 * GET and PUT /api/settings. Every answer carries the settings version as its ETag; a PUT with
 * `If-Match` commits only while that version is still the committed one (checked inside the
 * store's atomic step), so two admins editing at once cannot silently overwrite each other.
 */
import { parseSettingsPatch } from '../settings/validate';
import { SettingsConflictError, StoreFullError, StoreUnavailableError } from '../store/types';
import { SettingsError, type Settings } from '../settings/types';
import { errorResponse, json, type AdminResponse, type Route } from './http';

export interface SettingsBackend {
  current(): { settings: Settings; settingsVersion: number };
  /** Rejects with SettingsError (nothing changed), SettingsConflictError or StoreUnavailableError. */
  updateSettings(patch: Partial<Settings>, expectedVersion?: number): Promise<{ settings: Settings; settingsVersion: number }>;
}

function etag(settingsVersion: number): string {
  return `"${settingsVersion}"`;
}

/**
 * The version an If-Match header asks for: undefined for no header or `*` (any version), a
 * number for one of our ETags, or the 400 answer for anything else. A list of several tags
 * is refused: one PUT is made against one version read.
 */
export function ifMatchVersion(header: string | undefined): number | undefined | AdminResponse {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (text === '*') return undefined;
  // Weak tags (W/"3") never match for If-Match (RFC 9110 13.1.1: strong comparison).
  const match = /^"([0-9]{1,15})"$/.exec(text);
  if (match === null) {
    return errorResponse(400, `If-Match must be one ETag of GET /api/settings (as "7") or *, got ${JSON.stringify(header)}`);
  }
  return Number(match[1]);
}

export function settingsRoutes(backend: SettingsBackend): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/settings',
      handle() {
        const { settings, settingsVersion } = backend.current();
        return json(200, settings, { etag: etag(settingsVersion) });
      },
    },
    {
      method: 'PUT',
      path: '/api/settings',
      auth: true,
      body: 'json',
      async handle(request) {
        const expected = ifMatchVersion(request.headers['if-match']);
        if (typeof expected === 'object') return expected;
        const patch = parseSettingsPatch(request.body);
        if (patch instanceof SettingsError) return errorResponse(400, patch.message);
        try {
          const { settings, settingsVersion } = await backend.updateSettings(patch, expected);
          return json(200, settings, { etag: etag(settingsVersion) });
        } catch (error) {
          if (error instanceof SettingsError) return errorResponse(400, error.message);
          if (error instanceof SettingsConflictError) return json(412, { error: error.message }, { etag: etag(error.currentVersion) });
          if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
          // 507 Insufficient Storage: the cause named, not a bare 500 with ENOSPC only in the log.
          if (error instanceof StoreFullError) return errorResponse(507, `${error.message}; nothing was changed`);
          throw error;
        }
      },
    },
  ];
}
