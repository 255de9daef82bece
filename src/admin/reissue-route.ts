/**
 * POST /api/hosts/ID/reissue (`agentlb hosts reissue ID`): the operator's reset of trust on
 * first enrolment. The host's guid forgets its certificate, so the next agent that brings the
 * enrolment token (and a certificate request) for that guid is signed a new one: for a host
 * whose key was lost, or reinstalled. The old certificate stays valid until it expires.
 */
import { errorResponse, json, type Route } from './http';

export type ReissueResult = { kind: 'unknown' } | { kind: 'no_certificates' } | { kind: 'reset'; guid: string; held: boolean };

export interface ReissueBackend {
  reissue(id: number): Promise<ReissueResult>;
}

export function reissueRoute(backend: ReissueBackend): Route {
  return {
    method: 'POST',
    path: '/api/hosts/:id/reissue',
    auth: true,
    async handle(request) {
      const text = request.params['id']!;
      if (!/^[0-9]{1,15}$/.test(text)) return errorResponse(400, `host ID must be a non-negative integer, got ${JSON.stringify(text)}`);
      const result = await backend.reissue(Number(text));
      if (result.kind === 'unknown') return errorResponse(404, `no host ${text}`);
      if (result.kind === 'no_certificates') return errorResponse(409, 'this server keeps no agent certificates (start it with --tls-ca or --ca-dir)');
      return json(200, { id: Number(text), guid: result.guid, hadCertificate: result.held });
    },
  };
}
