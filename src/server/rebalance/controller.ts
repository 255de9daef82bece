/**
 * The rebalance: moves connected agents whose server is not their first usable entry back to
 * it, make-before-break (a `hosts` frame with `recheck`: the agent runs its preferred-host
 * check at once), at most `rate` agents per second across the fleet (budget.ts), never to a
 * draining or down server (their lists put those last, so they are never a first entry).
 *
 * A run is on the board (board.ts): started by an operator (POST /api/rebalance) or by the
 * automatic trigger (trigger.ts, every evaluation interval, from a survey of the fleet:
 * survey.ts). Every server works on the board's run with ITS OWN agents: it finds the
 * misplaced ones once per run (O(own agents), in slices), then tells as many to move as the
 * budget grants per tick (O(1) per move), and counts each outcome: moved when the agent
 * closed its connection here (after its new one was welcomed), not moved when it is still
 * here after `moveDeadlineMs` (an older agent ignores `recheck`; a first entry may refuse it).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ConnectionRegistry } from '../../store/types';
import type { HostsCause, ServerEvents } from '../events';
import type { AgentListState, HostsFrame } from '../fleet/fanout';
import type { RebalanceStatus } from '../../api/rebalance';
import { isActive, type RebalanceBoard, type RunRecord } from './board';

export { MAX_REBALANCE_RATE, type RebalanceStatus } from '../../api/rebalance';
import type { MoveBudget } from './budget';
import { survey, type PlanView, type Survey } from './survey';
import { isSettled, RebalanceTrigger, type TriggerGates, type TriggerSettings } from './trigger';

/** The part of a connection a rebalance needs. */
export interface RebalanceAgent {
  readonly hostId: number | undefined;
  readonly isOpen: boolean;
  readonly listState: AgentListState | undefined;
  /** Resolves once the connection has closed. */
  readonly closed: Promise<void>;
  sendHostsFrame(frame: HostsFrame, cause: HostsCause): void;
}

export interface RebalancePlan extends PlanView {
  /** The `hosts` frame with `recheck` for a list. */
  recheckFrame(hosts: readonly string[]): HostsFrame;
  /** The list host `hostId` of `zone` is sent now (avoided servers last). */
  listFor(hostId: number, zone: string): readonly string[];
}

export interface RebalanceDeps {
  board: RebalanceBoard;
  /** A budget at `rate` moves per second (shared by the fleet in cluster mode). */
  budget: (rate: number) => MoveBudget;
  plan: RebalancePlan;
  registry: Pick<ConnectionRegistry, 'hostsHeldBy'>;
  agents: { all(): Iterable<RebalanceAgent> };
  /** This server's entry of `host`, when it can tell. */
  selfAddress(): string | undefined;
  triggerSettings(): TriggerSettings;
  gates(): TriggerGates;
  events: ServerEvents;
  /** Moves per second when a request names none (`--drain-rate`). */
  defaultRate: number;
  /** How often the fleet is surveyed for the automatic trigger (the heartbeat interval). */
  evaluateMs: number;
  /** How long a told agent has to move before it counts as not moved. */
  moveDeadlineMs: number;
  /** Wall-clock ms, for the trigger and the deadlines. Default Date.now. */
  now?: () => number;
}

/** The agent's connect plus handshake timeouts (5 s + 10 s), with a margin. */
export const DEFAULT_MOVE_DEADLINE_MS = 20_000;
/** Own agents examined per turn of the loop when a run begins. */
const SCAN_SLICE = 2_048;

export interface RebalanceRequest {
  rate?: number;
  zone?: string;
  dryRun?: boolean;
}

export type RebalanceAnswer = { kind: 'started'; toMove: number; rate: number } | { kind: 'dry-run'; toMove: number; rate: number } | { kind: 'running'; run: RunRecord };


interface Told {
  deadline: number;
  settled: boolean;
}

/** This server's work on one run. */
interface Work {
  run: RunRecord;
  budget: MoveBudget;
  queue: RebalanceAgent[];
  /** In the order told, so deadlines ascend: settled from the front, O(1) per move. */
  told: Told[];
  /** Told and not settled yet. */
  waiting: number;
  /** Hosts told in this run: an agent that did not move is not told again. */
  tried: Set<number>;
  scanning: boolean;
  timer: NodeJS.Timeout | undefined;
  moved: number;
  notMoved: number;
}

export class RebalanceController {
  private readonly trigger = new RebalanceTrigger();
  private readonly now: () => number;
  private work: Work | undefined;
  private lastSurvey: Survey | undefined;
  private evaluateTimer: NodeJS.Timeout | undefined;
  private evaluating = false;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: RebalanceDeps) {
    this.now = deps.now ?? Date.now;
    this.unsubscribe = deps.board.subscribe((run) => this.onRun(run));
    this.onRun(deps.board.current());
  }

  /** Surveys every evaluation interval (the trigger, the planned-load metric) until close. */
  start(): void {
    this.scheduleEvaluation(0);
  }

  /** POST /api/rebalance. */
  async request(request: RebalanceRequest): Promise<RebalanceAnswer> {
    const rate = request.rate ?? this.deps.defaultRate;
    const zone = request.zone ?? null;
    const found = await survey(this.deps.plan, this.deps.registry, zone);
    if (zone === null) this.lastSurvey = found;
    if (request.dryRun === true) return { kind: 'dry-run', toMove: found.toMove, rate };
    const run = await this.deps.board.start({ source: 'manual', rate, zone, toMove: found.toMove });
    if (run === undefined) return { kind: 'running', run: this.deps.board.current()! };
    return { kind: 'started', toMove: found.toMove, rate };
  }

  /** DELETE /api/rebalance: the run ended, or undefined when none was active. */
  stop(): Promise<RunRecord | undefined> {
    return this.deps.board.end('stopped');
  }

  status(): RebalanceStatus {
    const run = this.deps.board.current();
    return {
      active: isActive(run),
      source: run?.source ?? null,
      toMove: run?.toMove ?? 0,
      moved: run?.moved ?? 0,
      notMoved: run?.notMoved ?? 0,
      startedAt: run?.startedAt ?? null,
      endedAt: run?.endedAt ?? null,
      endReason: run?.endReason ?? null,
      rate: run?.rate ?? null,
      zone: run?.zone ?? null,
      scope: this.deps.board.scope,
      pending: this.pending,
    };
  }

  /** This server's agents still to tell plus those told and not settled (a gauge). */
  get pending(): number {
    const work = this.work;
    return work === undefined ? 0 : work.queue.length + work.waiting;
  }

  /** Planned agents per server from the last survey (undefined before the first). */
  plannedLoads(): ReadonlyMap<string, { live: number; planned: number }> | undefined {
    return this.lastSurvey?.loads;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    clearTimeout(this.evaluateTimer);
    this.stopWork();
  }

  /** One survey and trigger observation (the evaluation timer's; tests call it directly). */
  async evaluate(): Promise<void> {
    if (this.evaluating || this.closed) return;
    this.evaluating = true;
    try {
      const gates = this.deps.gates();
      // An unavailable store's registry answers nothing worth surveying.
      if (!gates.storeAvailable) {
        this.observe(new Map(), gates);
        return;
      }
      const found = await survey(this.deps.plan, this.deps.registry);
      this.lastSurvey = found;
      this.observe(found.loads, gates, found.toMove);
    } catch (error) {
      this.deps.events.emit('listenerError', { event: 'rebalance:evaluate', error });
    } finally {
      this.evaluating = false;
    }
  }

  private observe(loads: Survey['loads'], gates: TriggerGates, toMove = 0): void {
    const settings = this.deps.triggerSettings();
    const decision = this.trigger.observe(this.now(), loads, settings, gates);
    const fail = (error: unknown): void => this.deps.events.emit('listenerError', { event: 'rebalance:auto', error });
    // An automatic run ends once every server is within half the threshold (hysteresis) and
    // nothing movable is left: the agents still misplaced are those told that stayed. Until
    // then it goes on, so the fleet ends at its plan, not at the edge of the threshold.
    const run = this.deps.board.current();
    if (run !== undefined && isActive(run) && run.source === 'auto' && decision !== 'stop' && loads.size > 0) {
      const settled = [...loads.values()].every((load) => isSettled(load, settings.thresholdPercent));
      if (settled && toMove <= run.notMoved) this.deps.board.end('settled', 'auto').catch(fail);
    }
    if (decision === 'start') {
      this.deps.board
        .start({ source: 'auto', rate: this.deps.defaultRate, zone: null, toMove })
        .then((run) => {
          // Another server's run (or an operator's) is on: it moves the same agents.
          if (run === undefined && !isActive(this.deps.board.current())) this.trigger.reset();
        })
        .catch(fail);
    } else if (run !== undefined && isActive(run) && run.source === 'auto' && this.trigger.blocked(this.now(), settings, gates)) {
      // Blocked (store, drain, off): an automatic run stops at once.
      this.deps.board.end('stopped', 'auto').catch(fail);
    } else if (decision === 'stop' && run !== undefined && isActive(run) && run.source === 'auto' && toMove <= run.notMoved) {
      this.deps.board.end('settled', 'auto').catch(fail);
    }
  }

  private scheduleEvaluation(delayMs: number): void {
    if (this.closed) return;
    this.evaluateTimer = setTimeout(() => {
      void this.evaluate().finally(() => this.scheduleEvaluation(this.deps.evaluateMs));
    }, delayMs);
    this.evaluateTimer.unref();
  }

  /** The board changed: begin work on a new active run, or stop work on an ended one. */
  private onRun(run: RunRecord | undefined): void {
    if (this.closed) return;
    if (run === undefined || !isActive(run)) {
      const ended = this.work?.run;
      this.stopWork();
      if (run !== undefined && ended !== undefined && ended.id === run.id) {
        this.deps.events.emit('rebalanceEnded', { id: run.id, source: run.source, reason: run.endReason ?? 'done', toMove: run.toMove, moved: run.moved, notMoved: run.notMoved });
      }
      if (run?.source === 'auto' || run?.endReason === 'done') this.trigger.reset();
      return;
    }
    if (this.work?.run.id === run.id) {
      this.work.run = run;
      return;
    }
    this.stopWork();
    const work: Work = { run, budget: this.deps.budget(run.rate), queue: [], told: [], waiting: 0, tried: new Set(), scanning: true, timer: undefined, moved: 0, notMoved: 0 };
    this.work = work;
    this.startScan(work, true);
  }

  private stopWork(): void {
    if (this.work === undefined) return;
    clearTimeout(this.work.timer);
    this.work = undefined;
  }

  private startScan(work: Work, first: boolean): void {
    void this.scan(work, first).catch((error: unknown) => this.deps.events.emit('listenerError', { event: 'rebalance:scan', error }));
  }

  /**
   * The own agents to move, a slice per turn of the loop: at the start of the run, and again
   * (every evaluation interval) while this server has nobody left to tell, for agents that
   * arrived misplaced meanwhile. An agent told once in a run is not told again.
   */
  private async scan(work: Work, first: boolean): Promise<void> {
    work.timer = undefined;
    const self = this.deps.selfAddress();
    let seen = 0;
    if (self !== undefined) {
      for (const agent of [...this.deps.agents.all()]) {
        if (this.work !== work) return;
        if (++seen % SCAN_SLICE === 0) await nextTurn();
        const hostId = agent.hostId;
        if (hostId !== undefined && !work.tried.has(hostId) && this.misplaced(agent, self, work.run.zone) !== undefined) work.queue.push(agent);
      }
    }
    if (this.work !== work) return;
    work.scanning = false;
    if (first) {
      this.deps.events.emit('rebalanceStarted', { id: work.run.id, source: work.run.source, rate: work.run.rate, zone: work.run.zone, toMove: work.run.toMove, mine: work.queue.length, self: self ?? null });
    }
    this.tick(work);
  }

  /** The list to send `agent` with recheck, when its first usable entry is not `self`. */
  private misplaced(agent: RebalanceAgent, self: string, zone: string | null): readonly string[] | undefined {
    const state = agent.listState;
    if (!agent.isOpen || state === undefined || (zone !== null && state.zone !== zone)) return undefined;
    const list = this.deps.plan.listFor(state.hostId, state.zone);
    const first = list[0];
    if (first === undefined || first === self || this.deps.plan.avoided(first)) return undefined;
    return list;
  }

  /** Settles outcomes, tells as many as the budget grants, and comes back while work remains. */
  private tick(work: Work): void {
    work.timer = undefined;
    if (this.work !== work) return;
    this.settle(work);
    const self = this.deps.selfAddress();
    const want = work.queue.length;
    const next = (): void => {
      if (this.work !== work) return;
      this.flushCounts(work);
      if (work.queue.length > 0 || work.waiting > 0) work.timer = setTimeout(() => this.tick(work), work.budget.tickMs);
      // Nobody left here: look again later, while the run lasts.
      else work.timer = setTimeout(() => this.startScan(work, false), this.deps.evaluateMs);
    };
    if (want === 0 || self === undefined) {
      work.queue.length = 0;
      next();
      return;
    }
    work.budget
      .take(want)
      .then((granted) => {
        if (this.work !== work) return;
        const deadline = this.now() + this.deps.moveDeadlineMs;
        let sent = 0;
        while (sent < granted && work.queue.length > 0) {
          const agent = work.queue.shift()!;
          // Re-checked now: it may have moved, left or been re-planned since the scan.
          const list = this.misplaced(agent, self, work.run.zone);
          if (list === undefined || agent.hostId === undefined || work.tried.has(agent.hostId)) continue;
          work.tried.add(agent.hostId);
          agent.sendHostsFrame(this.deps.plan.recheckFrame(list), 'rebalance');
          const told: Told = { deadline, settled: false };
          work.told.push(told);
          work.waiting++;
          void agent.closed.then(() => this.outcome(work, told, 'moved'));
          sent++;
        }
      })
      .catch((error: unknown) => this.deps.events.emit('listenerError', { event: 'rebalance:budget', error }))
      .finally(next);
  }

  /** Not moved: still here past the deadline. The front holds the oldest deadline. */
  private settle(work: Work): void {
    const now = this.now();
    let front = 0;
    while (front < work.told.length && (work.told[front]!.settled || now >= work.told[front]!.deadline)) {
      this.outcome(work, work.told[front]!, 'not_moved');
      front++;
    }
    if (front > 0) work.told.splice(0, front);
  }

  /** Counts one told agent once: moved when its connection here closed, else not moved. */
  private outcome(work: Work, told: Told, outcome: 'moved' | 'not_moved'): void {
    if (told.settled) return;
    told.settled = true;
    work.waiting--;
    if (outcome === 'moved') work.moved++;
    else work.notMoved++;
    this.deps.events.emit('rebalanceMove', { outcome });
  }

  private flushCounts(work: Work): void {
    const { moved, notMoved } = work;
    if (moved === 0 && notMoved === 0) return;
    work.moved = 0;
    work.notMoved = 0;
    this.deps.board.count(work.run.id, moved, notMoved).catch((error: unknown) => this.deps.events.emit('listenerError', { event: 'rebalance:count', error }));
  }
}
