/**
 * Graceful drain. A drain is recorded on the board (this server's memory, or the cluster's
 * store); every server reacts to the board the same way:
 *
 * - each draining address goes to the end of every list this server sends (the avoid list),
 *   and the lists that changes are pushed at once;
 * - the server whose own address is draining refuses new agents with `error draining` (they
 *   try their next entry), and tells its connected agents to move on, at most `rate` per
 *   second (pacer.ts): each is sent its list with this server last, then `error
 *   draining`, and moves to its next entry (with `balanced`, its planned second choice).
 *   Its own agents learn that it goes last only then, one by one: told all at once, their
 *   preferred-host checks would move them faster than the rate.
 *
 * A drain may have a deadline (`--timeout`, CloudStack 4.21's maintenance window): the agents
 * still connected then are handed over at once, in slices so the loop keeps turning, and the
 * drain is reported timed out. A maintenance window cannot get stuck behind a slow rate.
 *
 * Ending the drain pushes the usual lists again; agents come back through their
 * preferred-host checks, at their own jittered pace.
 */
import type { ErrorCode } from '../../protocol/messages';
import type { DrainRecord } from '../../store/types';
import type { DrainBoard } from './board';
import { DrainError, type DrainOutcome, type DrainScope, type DrainStatus, type UndrainOutcome } from '../../api/drain';
import { HandoverPacer } from './pacer';
import type { DisconnectReason, HostsCause, ServerEvents } from '../events';
import type { AgentListState } from '../fleet/fanout';

/** The avoid-list source this controller owns (FleetController.setAvoided). */
export const AVOID_SOURCE_DRAINING = 'draining';
export const DRAINING_MESSAGE = 'this server is draining: try your next server';
/** Agents handed over per turn of the event loop once a drain timed out. */
const TIMED_OUT_SLICE = 512;

/** The part of a connection a drain needs. */
export interface HandoverAgent {
  readonly connId: number;
  readonly hostId: number | undefined;
  readonly guid: string | undefined;
  readonly isOpen: boolean;
  readonly listState: AgentListState | undefined;
  sendHosts(hosts: readonly string[], cause: HostsCause): void;
  fail(code: ErrorCode, message: string, reason?: DisconnectReason): void;
}

export interface DrainDeps {
  board: DrainBoard;
  avoid: { setAvoided(source: string, addresses: Iterable<string>): Promise<number> };
  /** The connected (handshake done) agents; `onAttached` wakes a drain for one that connects meanwhile. */
  agents: { readonly size: number; all(): Iterable<HandoverAgent>; onAttached(hook: () => void): () => void };
  /** The agent listener: a draining server admits nobody. */
  gate: { refuseNew(refusal: { code: ErrorCode; message: string } | undefined): void };
  events: ServerEvents;
  /** This server's entry of `host` (self.ts), when it can tell. */
  selfAddress(): string | undefined;
  /** The `host` setting's entries, as written. */
  hostEntries(): readonly string[];
  /** The list to send an agent before it is handed over (`self` last), or undefined if it holds it. */
  handoverList(state: AgentListState, self: string): readonly string[] | undefined;
  defaultRate: number;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  /** Wall-clock milliseconds, for deadlines (a drain's `since` is a wall time); default Date.now. */
  wallNow?: () => number;
}


interface ActiveDrain {
  address: string;
  pacer: HandoverPacer;
  timer: NodeJS.Timeout | undefined;
  handedOver: number;
  /** Wall-clock ms when the rest go at once; undefined: no deadline. */
  deadline: number | undefined;
  timedOut: boolean;
}

/** A drain's deadline in wall-clock ms, or undefined when it has no timeout. */
function deadlineOf(drain: DrainRecord): number | undefined {
  return drain.timeout === undefined ? undefined : Date.parse(drain.since) + drain.timeout * 1000;
}

export class DrainController {
  private active: ActiveDrain | undefined;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly unsubscribe: (() => void)[];

  constructor(private readonly deps: DrainDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.wallNow = deps.wallNow ?? Date.now;
    this.unsubscribe = [
      deps.board.subscribe(() => this.apply()),
      // The own address can change with `host`; handshakes that were in flight when the
      // drain began end as connected agents that must be handed over too (the registry says).
      deps.events.on('settingsChanged', () => this.apply()),
      deps.agents.onAttached(() => this.wake()),
    ];
    this.apply();
  }

  get scope(): DrainScope {
    return this.deps.board.scope;
  }

  /** Whether this server is draining (agentlb_drain_active). */
  get selfDraining(): boolean {
    const self = this.deps.selfAddress();
    return this.deps.board.current().some((record) => record.address === self);
  }

  /** Whether any server of the fleet is draining (a rebalance waits for the drain to end). */
  get anyDraining(): boolean {
    return this.deps.board.current().length > 0;
  }

  /** Begins (or re-rates) the drain of `address`, by default this server. */
  async drain(request: { address?: string; rate?: number; timeout?: number }): Promise<DrainOutcome | DrainError> {
    const address = this.target(request.address);
    if (address instanceof DrainError) return address;
    const entries = this.deps.hostEntries();
    if (!entries.includes(address)) return notInHost(address, entries);
    const record = await this.deps.board.set(address, request.rate ?? this.deps.defaultRate, request.timeout);
    return { ...record, self: address === this.deps.selfAddress(), scope: this.scope };
  }

  /** Ends the drain of `address`, by default this server; a server not draining is no error. */
  async undrain(request: { address?: string }): Promise<UndrainOutcome | DrainError> {
    const address = this.target(request.address);
    if (address instanceof DrainError) return address;
    const known = this.deps.board.current().some((drain) => drain.address === address);
    const entries = this.deps.hostEntries();
    // A drained address may have left `host` since; anything else not in it is a typo.
    if (!known && !entries.includes(address)) return notInHost(address, entries);
    const ended = await this.deps.board.clear(address);
    return { address, wasDraining: ended !== undefined, self: address === this.deps.selfAddress(), scope: this.scope };
  }

  status(): DrainStatus {
    const self = this.deps.selfAddress();
    let agents = 0;
    for (const agent of this.deps.agents.all()) if (agent.isOpen) agents++;
    const wallNow = this.wallNow();
    const deadline = this.active?.deadline;
    return {
      scope: this.scope,
      self: self ?? null,
      draining: this.deps.board.current().map((drain) => {
        const due = deadlineOf(drain);
        return { ...drain, self: drain.address === self, timedOut: due !== undefined && wallNow >= due };
      }),
      handover: {
        active: this.active !== undefined,
        rate: this.active?.pacer.rate ?? null,
        agents,
        handedOver: this.active?.handedOver ?? 0,
        deadline: deadline === undefined ? null : new Date(deadline).toISOString(),
        timedOut: this.active?.timedOut ?? false,
      },
    };
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    if (this.active !== undefined) clearTimeout(this.active.timer);
    this.active = undefined;
  }

  private target(address: string | undefined): string | DrainError {
    if (address !== undefined) return address;
    const self = this.deps.selfAddress();
    if (self !== undefined) return self;
    return new DrainError(
      'no_self_address',
      'this server cannot tell which entry of host is its own: name the address, or start the server with --advertise ADDRESS (its entry in host)',
    );
  }

  /** Brings lists, admission and hand-over in line with the board. */
  private apply(): void {
    const drains = this.deps.board.current();
    const self = this.deps.selfAddress();
    const own = self === undefined ? undefined : drains.find((drain) => drain.address === self);
    // This server's own agents are told it goes last at their hand-over, not now (file comment).
    const avoided = drains.map((drain) => drain.address).filter((address) => address !== own?.address);
    this.deps.avoid
      .setAvoided(AVOID_SOURCE_DRAINING, avoided)
      .catch((error: unknown) => this.deps.events.emit('listenerError', { event: 'avoidChanged', error }));
    if (own !== undefined) this.begin(own);
    else this.end();
  }

  private begin(drain: DrainRecord): void {
    const running = this.active;
    if (running !== undefined && running.address === drain.address) {
      if (running.pacer.rate !== drain.rate) {
        running.pacer = running.pacer.withRate(drain.rate);
        this.deps.events.emit('drainChanged', { address: drain.address, draining: true, rate: drain.rate });
      }
      const deadline = deadlineOf(drain);
      if (deadline !== running.deadline) {
        running.deadline = deadline;
        // A sooner deadline must not wait for a slow tick.
        clearTimeout(running.timer);
        this.handOver();
      }
      return;
    }
    if (running !== undefined) clearTimeout(running.timer);
    this.active = {
      address: drain.address,
      pacer: new HandoverPacer(drain.rate),
      timer: undefined,
      handedOver: 0,
      deadline: deadlineOf(drain),
      timedOut: false,
    };
    this.deps.gate.refuseNew({ code: 'draining', message: DRAINING_MESSAGE });
    this.deps.events.emit('drainChanged', { address: drain.address, draining: true, rate: drain.rate });
    this.handOver();
  }

  private end(): void {
    const running = this.active;
    if (running === undefined) return;
    clearTimeout(running.timer);
    this.active = undefined;
    this.deps.gate.refuseNew(undefined);
    this.deps.events.emit('drainChanged', { address: running.address, draining: false });
  }

  /**
   * A newly connected agent while drained: resume handing over, on the next turn, since the
   * handshake is reported before the connection has sent its own welcome and list.
   */
  private wake(): void {
    const drain = this.active;
    if (drain !== undefined && drain.timer === undefined) drain.timer = setTimeout(() => this.handOver(), 0);
  }

  /**
   * Tells as many agents to move on as the pacer allows now; comes back while any remain. Past
   * the deadline, all the rest, a slice per turn of the loop.
   */
  private handOver(): void {
    const drain = this.active;
    if (drain === undefined) return;
    drain.timer = undefined;
    const now = this.now();
    if (!drain.timedOut && drain.deadline !== undefined && this.wallNow() >= drain.deadline) this.timeOut(drain);
    const allowed = drain.timedOut ? TIMED_OUT_SLICE : drain.pacer.allowance(now);
    let released = 0;
    let more = false;
    for (const agent of this.deps.agents.all()) {
      // Agents already told stay listed until their socket closes.
      if (!agent.isOpen || agent.hostId === undefined) continue;
      if (released === allowed) {
        more = true;
        break;
      }
      // First the list that says where to go: this server last, so its next entry comes first.
      const state = agent.listState;
      const list = state === undefined ? undefined : this.deps.handoverList(state, drain.address);
      if (list !== undefined) agent.sendHosts(list, 'avoid');
      agent.fail('draining', DRAINING_MESSAGE, 'draining');
      released++;
      this.deps.events.emit('handedOver', { connId: agent.connId, hostId: agent.hostId, guid: agent.guid ?? '', at: now });
    }
    if (!drain.timedOut) drain.pacer.record(now, released);
    drain.handedOver += released;
    // Nobody left: idle until a late handshake completes (wake).
    if (more) drain.timer = setTimeout(() => this.handOver(), this.nextTickMs(drain));
  }

  /** The pacer's tick, cut short by the deadline; 0 (next turn) once timed out. */
  private nextTickMs(drain: ActiveDrain): number {
    if (drain.timedOut) return 0;
    if (drain.deadline === undefined) return drain.pacer.tickMs;
    return Math.max(0, Math.min(drain.pacer.tickMs, drain.deadline - this.wallNow()));
  }

  private timeOut(drain: ActiveDrain): void {
    drain.timedOut = true;
    let remaining = 0;
    for (const agent of this.deps.agents.all()) if (agent.isOpen && agent.hostId !== undefined) remaining++;
    this.deps.events.emit('drainTimedOut', { address: drain.address, remaining, handedOver: drain.handedOver });
  }
}

function notInHost(address: string, entries: readonly string[]): DrainError {
  return new DrainError(
    'not_in_host',
    `address ${JSON.stringify(address)} is not an entry of host (${entries.join(',')}); servers are named exactly as written there`,
  );
}
