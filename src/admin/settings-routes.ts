/** GET and PUT /api/settings. */
import { parseSettingsPatch } from '../store/settings-validate';
import { SettingsError, StoreUnavailableError, type Settings } from '../store/types';
import { errorResponse, json, type Route } from './http';

export interface SettingsBackend {
  current(): { settings: Settings; settingsVersion: number };
  /** Rejects with SettingsError (nothing changed) or StoreUnavailableError. */
  updateSettings(patch: Partial<Settings>): Promise<{ settings: Settings; settingsVersion: number }>;
}

export function settingsRoutes(backend: SettingsBackend): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/settings',
      handle() {
        const { settings, settingsVersion } = backend.current();
        return json(200, settings, { etag: `"${settingsVersion}"` });
      },
    },
    {
      method: 'PUT',
      path: '/api/settings',
      auth: true,
      body: 'json',
      async handle(request) {
        const patch = parseSettingsPatch(request.body);
        if (patch instanceof SettingsError) return errorResponse(400, patch.message);
        try {
          const { settings, settingsVersion } = await backend.updateSettings(patch);
          return json(200, settings, { etag: `"${settingsVersion}"` });
        } catch (error) {
          if (error instanceof SettingsError) return errorResponse(400, error.message);
          if (error instanceof StoreUnavailableError) return errorResponse(503, error.message);
          throw error;
        }
      },
    },
  ];
}
