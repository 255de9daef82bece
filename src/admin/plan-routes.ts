/** GET /api/plan: the what-if planner (planner/query.ts, planner/report.ts). */
import { errorResponse, json, type Route } from './http';
import { parsePlanQuery, PlanQueryError } from '../planner/query';
import { planHere, planReport, type PlanFleet, type ZonePlanner } from '../planner/report';

export function planRoutes(fleet: PlanFleet, planZone: ZonePlanner = planHere): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/plan',
      async handle(request) {
        const query = parsePlanQuery(request.url.searchParams, fleet.settings);
        if (query instanceof PlanQueryError) return errorResponse(400, query.message);
        return json(200, await planReport(fleet, query, planZone));
      },
    },
  ];
}
