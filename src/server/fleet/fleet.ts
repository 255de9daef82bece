/**
 * The server's in-memory truth: the committed settings and their version, the parsed server
 * list, the algorithm, the registered hosts with their per-zone index, one planner per zone,
 * and the encoded `hosts` frames.
 *
 * Every question a connection asks on its hot path (which list does host H get, is the
 * agent's list up to date, which bytes to send) is O(1) here; the work that depends on the
 * whole fleet happens once per change, in plan().
 *
 * An algorithm that plans from the whole host set (balanced) is not re-planned on every new
 * host: that made a registration storm O(n²). A host-set change marks the zone's planner
 * stale; the hot path keeps answering from it (a host it never planned gets a deterministic
 * fallback, balanced's rendezvous order), and the zone is re-planned once, by refreshPlans(),
 * right before the controller's throttled host-set fan-out (resend.ts) computes its
 * lists, or by plannedFor(), which answers the exact plan. So every agent holds the exact plan
 * at most one re-send window after the storm settles.
 *
 * Such a plan is O(zone) (a 100 000-host zone: 70-90 ms), so it is never made on the event
 * loop in one piece where it can be avoided: refreshPlans() and planZones() plan in slices of
 * PLAN_SLICE units of work, the loop given back between slices, while the planner they replace
 * keeps answering; the new one is swapped in whole, so an agent is sent the old plan or the new
 * one, never a mix. New settings are planned the same way, aside (prepareSettings), before
 * they are installed. Only a zone never planned and asked for at once (plannerOf) is planned in
 * one piece: at start-up the server plans every zone before it listens.
 */
import { ALGORITHMS, HostIndex, isUpToDate } from '../../lb/index';
import type { Algorithm, ListPlanner } from '../../lb/types';
import { encodeMessage } from '../../protocol/encoder';
import { parseSettings } from '../../settings/validate';
import type { HostRecord, StoreSnapshot } from '../../store/types';
import type { Settings } from '../../settings/types';
import { SETTING_CHECK_INTERVAL, SETTING_HOST, SettingsError } from '../../settings/types';
import { AvoidList } from '../../lb/avoid';
import { IdSet } from '../../util/id-set';
import { SliceClock, runInTurns, runNow, type Sliced } from '../../util/slices';
import type { AgentListState, HostsFrame, ListPolicy } from './fanout';

/** Settings that cannot be served (a store edited by hand, or written by a newer version). */
export class FleetSettingsError extends Error {
  readonly code = 'bad_stored_settings';
  constructor(message: string) {
    super(message);
    this.name = 'FleetSettingsError';
  }
}

interface Plan {
  readonly settings: Settings;
  readonly settingsVersion: number;
  readonly servers: readonly string[];
  readonly algorithm: Algorithm;
}

/** The algorithms a Fleet plans with, by name (tests wrap one to count its plans). */
export type AlgorithmsByName = ReadonlyMap<string, Algorithm>;

function makePlan(settings: Settings, settingsVersion: number, algorithms: AlgorithmsByName): Plan | FleetSettingsError {
  const parsed = parseSettings(settings);
  if (parsed instanceof SettingsError) return new FleetSettingsError(parsed.message);
  const algorithm = algorithms.get(parsed.algorithm);
  // parseSettings knows the name; only an algorithm map injected without it (a test) lacks it.
  if (algorithm === undefined) return new FleetSettingsError(`algorithm ${parsed.algorithm} is not available`);
  return { settings: parsed.settings, settingsVersion, servers: parsed.servers, algorithm };
}

/**
 * A resync rebuilds the index when more than 1/REBUILD_FRACTION of the hosts changed: each
 * change applied alone costs up to a block (~1 000 slots plus a counter per block), a rebuild
 * about a slot per host.
 */
const REBUILD_FRACTION = 16;
/** Hosts a resync compares per turn of the event loop. */
export const RESYNC_SLICE = 10_000;

/**
 * Units of work (SliceClock; about a weight read each) a sliced plan does per turn of the loop:
 * 1-2 ms of CPU, so a 100 000-host balanced zone (3 servers) is planned over about 80 turns.
 */
export const PLAN_SLICE = 65_536;

/** A zone's planner and the zone's host-set change count it was planned at. */
interface ZonePlanner {
  readonly planner: ListPlanner;
  readonly changes: number;
}

/** Planners made aside for settings not yet installed (Fleet.prepareSettings). */
export interface PreparedPlanners {
  readonly host: string;
  readonly algorithm: Algorithm;
  readonly planners: ReadonlyMap<string, ZonePlanner>;
}

/** A sliced re-plan of a zone under way, and the host-set change count it plans. */
interface Replan {
  readonly changes: number;
  readonly done: Promise<void>;
}

/** What a resync changes (Fleet.planResync): the difference, or a rebuild from every host. */
export type ResyncPlan =
  | { readonly kind: 'diff'; readonly vanished: readonly number[]; readonly changed: readonly HostRecord[] }
  | { readonly kind: 'rebuild'; readonly hosts: readonly HostRecord[]; readonly built?: BuiltHosts; readonly vanished?: readonly number[] };

/** Every host's maps and index, built aside for a rebuild (Fleet.planResync). */
interface BuiltHosts {
  readonly hostsById: Map<number, HostRecord>;
  readonly hostsByGuid: Map<string, HostRecord>;
  readonly index: HostIndex;
}

/** The maps and index of `hosts` (distinct ids, as a snapshot holds), built a slice at a time. */
function* buildHosts(hosts: readonly HostRecord[], slice: number): Generator<void, BuiltHosts> {
  const hostsById = new Map<number, HostRecord>();
  const hostsByGuid = new Map<string, HostRecord>();
  for (let i = 0; i < hosts.length; i++) {
    if (i > 0 && i % slice === 0) yield;
    const host = hosts[i]!;
    hostsById.set(host.id, host);
    hostsByGuid.set(host.guid, host);
  }
  const index = yield* HostIndex.build(hosts, slice);
  return { hostsById, hostsByGuid, index };
}

/** The ids of `before` that `after` lacks, a slice at a time. */
function* vanishedIds(before: ReadonlyMap<number, HostRecord>, after: ReadonlyMap<number, HostRecord>, slice: number): Sliced<number[]> {
  const gone: number[] = [];
  let seen = 0;
  for (const id of before.keys()) {
    if (++seen % slice === 0) yield;
    if (!after.has(id)) gone.push(id);
  }
  return gone;
}

function sameRecord(known: HostRecord | undefined, host: HostRecord): boolean {
  return known !== undefined && known.guid === host.guid && known.zone === host.zone && known.registeredAt === host.registeredAt;
}

export class Fleet implements ListPolicy {
  private plan: Plan;
  private index = new HostIndex();
  /** Work of indexes replaced by a rebuild, so indexWork only grows. */
  private retiredIndexWork = 0;
  private hostsById = new Map<number, HostRecord>();
  /** A known guid is served from memory: only a new host needs the store (cluster mode: the database). */
  private hostsByGuid = new Map<string, HostRecord>();
  private planners = new Map<string, ZonePlanner>();
  /**
   * Host-set changes per zone, ever: a planner planned at a lower count is stale (for an
   * algorithm that depends on the host set).
   */
  private readonly zoneChanges = new Map<string, number>();
  /** Bumped whenever the planners are replaced: a re-plan begun before is dropped. */
  private plannersEpoch = 0;
  private readonly replans = new Map<string, Replan>();
  /**
   * Encoded frames by list identity. Planners hand the same array to every host sharing a
   * list, so one Buffer serves them all; a WeakMap lets lists no planner holds any more
   * (a superseded plan, a shuffle permutation already sent) be collected with their frames.
   */
  private frames = new WeakMap<readonly string[], HostsFrame>();
  /** The same lists with `recheck` (a rebalance moving agents), encoded once per list too. */
  private recheckFrames = new WeakMap<readonly string[], HostsFrame>();
  /** Draining or down servers, sent last in every list (lb/avoid.ts). */
  private avoid = AvoidList.EMPTY;

  private constructor(
    plan: Plan,
    hosts: readonly HostRecord[],
    private readonly algorithms: AlgorithmsByName,
    /** Units of work per turn of a sliced plan (tests pass small slices to make small zones pause). */
    private readonly planSlice: number,
  ) {
    this.plan = plan;
    this.loadHosts(hosts);
  }

  static fromSnapshot(snapshot: StoreSnapshot, algorithms: AlgorithmsByName = ALGORITHMS, planSlice = PLAN_SLICE): Fleet | FleetSettingsError {
    const plan = makePlan(snapshot.settings, snapshot.settingsVersion, algorithms);
    if (plan instanceof FleetSettingsError) return plan;
    return new Fleet(plan, snapshot.hosts, algorithms, planSlice);
  }

  get settings(): Readonly<Settings> {
    return this.plan.settings;
  }

  get settingsVersion(): number {
    return this.plan.settingsVersion;
  }

  get algorithm(): Algorithm {
    return this.plan.algorithm;
  }

  /** The parsed `host` setting, in order. */
  get servers(): readonly string[] {
    return this.plan.servers;
  }

  /** A host's position in its zone ordered by id (the zone's size when absent): O(1). */
  positionOf(hostId: number, zone: string): number {
    const view = this.index.zone(zone);
    return view.positionOf(hostId) ?? view.size;
  }

  /**
   * Replaces settings nobody has set yet (version 0: the store's defaults) by this server's
   * own defaults (its own address as `host`, self-address.ts), keeping version 0. Returns
   * false and changes nothing once any version was committed.
   */
  applyDefaults(settings: Settings): boolean | FleetSettingsError {
    if (this.plan.settingsVersion !== 0) return false;
    const plan = makePlan(settings, 0, this.algorithms);
    if (plan instanceof FleetSettingsError) return plan;
    this.plan = plan;
    this.dropPlanners();
    this.frames = new WeakMap();
    this.recheckFrames = new WeakMap();
    return true;
  }

  /**
   * Installs committed settings. Returns false (and changes nothing) for a version not newer
   * than the current one: two changes committed concurrently may resolve out of order.
   */
  applySettings(settings: Settings, settingsVersion: number, prepared?: PreparedPlanners): boolean | FleetSettingsError {
    if (settingsVersion <= this.plan.settingsVersion) return false;
    const plan = makePlan(settings, settingsVersion, this.algorithms);
    if (plan instanceof FleetSettingsError) return plan;
    const before = this.plan;
    this.plan = plan;
    // Lists depend on the servers and the algorithm only: a change of the interval or of the
    // rebalance settings keeps the plans (re-planning 100 000 hosts costs 0.1-0.3 s).
    if (before.settings[SETTING_HOST] !== plan.settings[SETTING_HOST] || before.algorithm !== plan.algorithm) {
      this.dropPlanners();
      // Planned aside for exactly these servers and algorithm: a zone changed meanwhile is stale.
      if (prepared !== undefined && prepared.host === plan.settings[SETTING_HOST] && prepared.algorithm === plan.algorithm) {
        this.planners = new Map(prepared.planners);
      }
    }
    this.frames = new WeakMap();
    return true;
  }

  /**
   * Plans every zone under `settings`, in slices, while the current settings keep serving; pass
   * the result to applySettings. Undefined (nothing to wait for) when the lists would not change
   * or the algorithm plans in O(1) per host anyway (roundrobin & co.), and for bad settings
   * (applySettings reports them).
   */
  prepareSettings(settings: Settings): Promise<PreparedPlanners> | undefined {
    const plan = makePlan(settings, this.plan.settingsVersion + 1, this.algorithms);
    if (plan instanceof FleetSettingsError || !plan.algorithm.dependsOnHostSet) return undefined;
    if (plan.settings[SETTING_HOST] === this.plan.settings[SETTING_HOST] && plan.algorithm === this.plan.algorithm) return undefined;
    return (async () => {
      const planners = new Map<string, ZonePlanner>();
      for (const zone of this.index.zones()) planners.set(zone, await this.planZone(plan, zone));
      return { host: plan.settings[SETTING_HOST], algorithm: plan.algorithm, planners };
    })();
  }

  host(id: number): HostRecord | undefined {
    return this.hostsById.get(id);
  }

  hostByGuid(guid: string): HostRecord | undefined {
    return this.hostsByGuid.get(guid);
  }

  hosts(): IterableIterator<HostRecord> {
    return this.hostsById.values();
  }

  get hostCount(): number {
    return this.hostsById.size;
  }

  /**
   * Records a registered host. `shifted` is true when other hosts of its zone may now expect
   * a different list: the algorithm plans from the whole host set, or the new id landed
   * before existing ones (cluster mode: another server's id arriving late) and moved them.
   * A shifted zone of a dependsOnHostSet algorithm is left stale: the caller's host-set
   * fan-out for it must call refreshPlan(zone) first.
   */
  addHost(host: HostRecord): { added: boolean; shifted: boolean } {
    const known = this.hostsById.get(host.id);
    if (known !== undefined && known.zone === host.zone) return { added: false, shifted: false };
    // The zone it left is left stale (removeHost): the caller re-sends it (controller.ts).
    if (known !== undefined) this.removeHost(host.id);
    this.trackHost(host);
    // O(1): appended at the end of its zone (the usual case, ids ascend) moves nobody else.
    const zone = this.index.zone(host.zone);
    const appended = zone.positionOf(host.id) === zone.size - 1;
    const shifted = this.plan.algorithm.dependsOnHostSet || !appended;
    this.hostSetChanged(host.zone);
    return { added: true, shifted };
  }

  /** Forgets a host; returns its record, or undefined when unknown. */
  removeHost(id: number): HostRecord | undefined {
    const host = this.hostsById.get(id);
    if (host === undefined) return undefined;
    this.hostsById.delete(id);
    // Only if it still names this id: cluster announcements may re-add the guid first.
    if (this.hostsByGuid.get(host.guid) === host) this.hostsByGuid.delete(host.guid);
    this.index.remove(id);
    // Its entry in the stale planner is unused (it has no agent) and gone after refreshPlan.
    this.hostSetChanged(host.zone);
    return host;
  }

  /**
   * Replaces every host (cluster resync), at once: the comparison of planResync, then
   * applyResync. The server uses the two halves apart (controller.ts), so that comparing
   * 100 000 hosts runs in slices.
   */
  replaceHosts(hosts: readonly HostRecord[]): void {
    const steps = this.compareHosts(hosts, Number.POSITIVE_INFINITY);
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    this.applyResync(step.value);
  }

  /**
   * What a resync to `hosts` changes, compared RESYNC_SLICE hosts per turn of the loop (a map
   * lookup each; 100 000 at once held a busy loop ~180 ms). Usually little changed while
   * notifications were lost: the plan is the difference. When more than 1/16 changed, it is a
   * rebuild of the index. Apply it with applyResync with no change to the fleet in between
   * (the controller holds other store changes back meanwhile).
   */
  async planResync(hosts: readonly HostRecord[], slice = RESYNC_SLICE): Promise<ResyncPlan> {
    const plan = await runInTurns(this.compareHosts(hosts, slice));
    if (plan.kind === 'diff') return plan;
    // A rebuild is built aside in slices too, with the ids it drops; applyResync swaps it in at once.
    const built = await runInTurns(buildHosts(hosts, slice));
    return { ...plan, built, vanished: await runInTurns(vanishedIds(this.hostsById, built.hostsById, slice)) };
  }

  /**
   * Applies a plan from planResync; returns the ids that are gone. A difference costs a block
   * of the index per change and re-plans only the zones it touched, as the same changes one by
   * one would; a rebuild is one O(n log n) pass. Never a removal per host of everything (each
   * shifted the zone: O(n²), 84 s frozen at 100 000 hosts).
   */
  applyResync(plan: ResyncPlan): readonly number[] {
    if (plan.kind === 'rebuild') {
      const before = plan.built === undefined || plan.vanished === undefined ? new Map(this.hostsById) : undefined;
      if (plan.built === undefined) this.loadHosts(plan.hosts);
      else {
        this.retiredIndexWork += this.index.workDone;
        ({ hostsById: this.hostsById, hostsByGuid: this.hostsByGuid, index: this.index } = plan.built);
      }
      const vanished = before === undefined ? plan.vanished! : runNow(vanishedIds(before, this.hostsById, Number.POSITIVE_INFINITY));
      if (this.plan.algorithm.dependsOnHostSet) {
        // Its planners read nothing live: they keep serving, stale, until re-planned in slices.
        for (const zone of this.planners.keys()) this.hostSetChanged(zone);
      } else {
        // Roundrobin & co. read positions from the index just replaced: plan them afresh (O(1)).
        this.dropPlanners();
      }
      return vanished;
    }
    for (const id of plan.vanished) this.removeHost(id);
    for (const host of plan.changed) {
      if (this.hostsById.has(host.id)) this.removeHost(host.id);
      this.trackHost(host);
      this.hostSetChanged(host.zone);
    }
    return plan.vanished;
  }

  /** The comparison behind planResync, as a generator that pauses every `slice` hosts. */
  private *compareHosts(hosts: readonly HostRecord[], slice: number): Generator<void, ResyncPlan> {
    const limit = this.hostsById.size / REBUILD_FRACTION;
    const changed: HostRecord[] = [];
    // Sized once: a Set of 1 000 000 ids rehashed inside one add (util/id-set.ts).
    const incoming = new IdSet(hosts.length);
    for (let i = 0; i < hosts.length; i++) {
      if (i > 0 && i % slice === 0) yield;
      const host = hosts[i]!;
      incoming.add(host.id);
      if (sameRecord(this.hostsById.get(host.id), host)) continue;
      changed.push(host);
      if (changed.length > limit) return { kind: 'rebuild', hosts };
    }
    const vanished: number[] = [];
    let seen = 0;
    for (const id of this.hostsById.keys()) {
      if (++seen % slice === 0) yield;
      if (incoming.has(id)) continue;
      vanished.push(id);
      if (changed.length + vanished.length > limit) return { kind: 'rebuild', hosts };
    }
    return { kind: 'diff', vanished, changed };
  }

  /** Work the host index has done so far (HostIndex.workDone): what tests count. */
  get indexWork(): number {
    return this.retiredIndexWork + this.index.workDone;
  }

  /** Whether a host-set change of `zone` came after its planner (so a re-plan is due). */
  isStale(zone: string): boolean {
    const current = this.planners.get(zone);
    return current !== undefined && this.plan.algorithm.dependsOnHostSet && current.changes !== this.changesOf(zone);
  }

  /** The zones whose planner is stale. */
  staleZones(): string[] {
    return [...this.planners.keys()].filter((zone) => this.isStale(zone));
  }

  /**
   * Re-plans `zone` (every stale zone, when none is given) in slices, the stale planner
   * serving meanwhile, and swaps each new planner in whole. Undefined when nothing is stale:
   * the caller then goes on in the same turn. Call it right before a host-set fan-out of the
   * zone: O(zone) once per fan-out, instead of once per host. The promise resolves once every
   * change made before the call is planned (changes made meanwhile leave the zone stale again).
   */
  refreshPlans(zone?: string): Promise<void> | undefined {
    const zones = zone === undefined ? this.staleZones() : this.isStale(zone) ? [zone] : [];
    if (zones.length === 0) return undefined;
    return Promise.all(zones.map((name) => this.refreshZone(name))).then(() => undefined);
  }

  private async refreshZone(zone: string): Promise<void> {
    const wanted = this.changesOf(zone);
    const epoch = this.plannersEpoch;
    while (this.isStale(zone) && this.plannersEpoch === epoch) {
      const replan = this.replans.get(zone) ?? this.startReplan(zone);
      await replan.done;
      // That re-plan covered every change made before this call.
      if (replan.changes >= wanted) return;
    }
  }

  private startReplan(zone: string): Replan {
    const epoch = this.plannersEpoch;
    const changes = this.changesOf(zone);
    const done = this.planZone(this.plan, zone)
      .then((planned) => {
        // New settings replaced every planner meanwhile; and never swap an older plan in.
        const current = this.planners.get(zone);
        if (this.plannersEpoch === epoch && (current === undefined || current.changes <= planned.changes)) this.planners.set(zone, planned);
      })
      .finally(() => {
        if (this.replans.get(zone) === replan) this.replans.delete(zone);
      });
    const replan: Replan = { changes, done };
    this.replans.set(zone, replan);
    return replan;
  }

  /**
   * Plans every zone that has hosts and no planner yet, in slices (start-up, before agents are
   * served): so that no handshake plans a 100 000-host zone in one piece. Nothing to do for an
   * algorithm that plans in O(1) per host.
   */
  async planZones(): Promise<void> {
    if (!this.plan.algorithm.dependsOnHostSet) return;
    const epoch = this.plannersEpoch;
    for (const zone of this.index.zones()) {
      if (this.planners.has(zone)) continue;
      const planned = await this.planZone(this.plan, zone);
      if (this.plannersEpoch === epoch && !this.planners.has(zone)) this.planners.set(zone, planned);
    }
  }

  /** `zone` planned under `plan` from its hosts now, in slices when the algorithm can. */
  private async planZone(plan: Plan, zone: string): Promise<ZonePlanner> {
    const changes = this.changesOf(zone);
    const { algorithm, servers } = plan;
    const steps: Sliced<ListPlanner> | undefined = algorithm.planInSlices?.(servers, this.index.zone(zone).ids(), new SliceClock(this.planSlice));
    const planner = steps === undefined ? algorithm.plan(servers, this.index.zone(zone)) : await runInTurns(steps);
    return { planner, changes };
  }

  private changesOf(zone: string): number {
    return this.zoneChanges.get(zone) ?? 0;
  }

  /** The servers every list puts last (draining or down), by address as written in `host`. */
  get avoided(): AvoidList {
    return this.avoid;
  }

  /** Replaces the avoid list; false when it is unchanged. Lists then need a fan-out. */
  setAvoided(avoid: AvoidList): boolean {
    if (avoid.equals(this.avoid)) return false;
    this.avoid = avoid;
    return true;
  }

  /**
   * The list host `hostId` of `zone` is sent now. O(1) after the zone's first plan. It may
   * come from a stale planner (see the top of this file) until the zone's host-set fan-out.
   */
  expectedFor(hostId: number | undefined, zone: string): readonly string[] {
    return this.avoid.apply(this.plannerOf(zone).listFor(hostId));
  }

  /**
   * The algorithm's exact list for the host under the current host set, before the avoid
   * list moves anything (the what-if planner reports this). Re-plans a stale zone first.
   */
  plannedFor(hostId: number | undefined, zone: string): readonly string[] {
    // The what-if report (GET /api/plan) is O(n) itself: a stale zone is planned here at once.
    if (this.isStale(zone)) this.planners.delete(zone);
    return this.plannerOf(zone).listFor(hostId);
  }

  listToSend(state: AgentListState): readonly string[] | undefined {
    const expected = this.expectedFor(state.hostId, state.zone);
    // The set compare of shuffle would keep an avoided server first: check its place too.
    const current = isUpToDate(this.plan.algorithm, state.algorithm, state.hosts, expected) && this.avoid.respectedBy(state.hosts);
    return current && state.checkInterval === this.plan.settings[SETTING_CHECK_INTERVAL] ? undefined : expected;
  }

  /** The encoded `hosts` frame for a list from expectedFor(); one Buffer per distinct list. */
  hostsFrame(hosts: readonly string[]): HostsFrame {
    let cached = this.frames.get(hosts);
    if (cached === undefined) {
      const { settings, settingsVersion, algorithm } = this.plan;
      const checkInterval = settings[SETTING_CHECK_INTERVAL];
      const frame = encodeMessage({ type: 'hosts', seq: settingsVersion, hosts: [...hosts], algorithm: algorithm.name, checkInterval });
      cached = { frame, seq: settingsVersion, hosts, algorithm: algorithm.name, checkInterval };
      this.frames.set(hosts, cached);
    }
    return cached;
  }

  /** hostsFrame(hosts) with `recheck: true` (protocol.md section 5, rule 7). */
  recheckFrame(hosts: readonly string[]): HostsFrame {
    let cached = this.recheckFrames.get(hosts);
    if (cached === undefined) {
      const { settings, settingsVersion, algorithm } = this.plan;
      const checkInterval = settings[SETTING_CHECK_INTERVAL];
      const frame = encodeMessage({ type: 'hosts', seq: settingsVersion, hosts: [...hosts], algorithm: algorithm.name, checkInterval, recheck: true });
      cached = { frame, seq: settingsVersion, hosts, algorithm: algorithm.name, checkInterval };
      this.recheckFrames.set(hosts, cached);
    }
    return cached;
  }

  private plannerOf(zone: string): ListPlanner {
    let current = this.planners.get(zone);
    if (current === undefined) {
      current = { planner: this.plan.algorithm.plan(this.plan.servers, this.index.zone(zone)), changes: this.changesOf(zone) };
      this.planners.set(zone, current);
    }
    return current.planner;
  }

  /**
   * Counts the change. Roundrobin & co. read positions live: nothing else to do, the O(1)
   * append path. A planner of the whole host set is now stale (isStale) and kept, serving,
   * until refreshPlans.
   */
  private hostSetChanged(zone: string): void {
    this.zoneChanges.set(zone, this.changesOf(zone) + 1);
  }

  private dropPlanners(): void {
    this.planners = new Map();
    this.plannersEpoch++;
  }

  private loadHosts(hosts: readonly HostRecord[]): void {
    this.hostsById.clear();
    this.hostsByGuid.clear();
    for (const host of hosts) {
      this.hostsById.set(host.id, host);
      this.hostsByGuid.set(host.guid, host);
    }
    this.index.replaceAll(this.hostsById.values());
  }

  private trackHost(host: HostRecord): void {
    this.hostsById.set(host.id, host);
    this.hostsByGuid.set(host.guid, host);
    this.index.add(host.id, host.zone);
  }
}
