/**
 * The agent's orchestrator: which server to be on, and what to do when things change.
 *
 * - Start, and after any disconnect: try the list in order (a server that just said it is
 *   going away, or stopped answering pings, is tried last); after a full failed round, wait
 *   with back-off and try again — forever, never exiting and never spinning. The first
 *   reconnect after a drop is jittered.
 * - `hosts` from the server: check, persist (only when something changed), then `ack` with the
 *   same seq — ok:false with the reason when it could not be persisted, and then the agent
 *   keeps its last good list, so memory never runs ahead of the file.
 * - Away from the preferred server with a check interval above 0: every interval (jittered),
 *   a real handshake with the preferred server; when it answers, switch make-before-break.
 *   A `hosts` with `recheck` (a rebalance) runs that check at once, whatever the interval.
 *   Switches that flap (servers disagreeing about the list) back the check off: flap-damper.ts.
 * - Every hello announces the list the agent will hold: it is built only once accepted updates
 *   are applied, and a check holds the current server's `hosts` frames until it settles. A
 *   server sends `hosts` only when the hello's list is outdated, so a list changed behind the
 *   hello's back would never be corrected.
 *
 * Sockets live in session.ts, the list in server-pool.ts, timing in backoff.ts and
 * preferred-check.ts, the order updates are applied, held and saved in update-pipeline.ts;
 * this file only decides.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION, type Hello, type Hosts } from '../src/protocol/messages';
import type { PropertiesDoc } from './properties';
import { Backoff, type BackoffOptions } from '../src/util/backoff';
import { ConfigError, effectiveCheckInterval, type AgentConfig } from './config';
import { FlapDamper, type FlapDamperOptions } from './flap-damper';
import { PreferredCheck, type CheckTimer } from './preferred-check';
import { ServerPool, type ServerEntry } from './server-pool';
import { DEFAULT_SESSION_OPTIONS, HandshakeFailure, Session, type CloseReason, type SessionOptions } from './session';
import { UpdatePipeline } from './update-pipeline';
import type { AgentIdentity } from './identity';
import type { AlgorithmName } from '../src/protocol/algorithms';
import { agentlbVersion } from '../src/util/version';
import { CallDispatcher, DEFAULT_DISPATCHER_OPTIONS, type CallHandler, type CallOrigin } from './calls/dispatcher';
import { VersionNegotiator } from './negotiate';

/** The logger calls the agent makes; a pino Logger fits. */
export type AgentLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface AgentOptions {
  /** agent.properties, where `hosts` updates are persisted. */
  propertiesPath: string;
  /** The parsed file and its checked settings (loadAgentConfig). */
  doc: PropertiesDoc;
  config: AgentConfig & { guid: string };
  logger: AgentLogger;
  session?: Partial<SessionOptions>;
  backoff?: BackoffOptions;
  /** Uniform source in [0, 1) for the check's jitter. */
  random?: () => number;
  /**
   * Milliseconds in one second of check interval. 1 000 in production; tests shrink it so
   * an interval of "1" passes in a blink.
   */
  intervalUnitMs?: number;
  /** Sent as hello.token when the servers require enrolment. */
  token?: string;
  /** Monotonic milliseconds for flap damping. Default performance.now; injected by tests. */
  now?: () => number;
  /** Where preferred-host checks are timed. Default setTimeout; injected by tests. */
  checkTimer?: CheckTimer;
  /** Flap damping's threshold, window and caps (see flap-damper.ts). */
  flap?: Omit<FlapDamperOptions, 'now'>;
  /**
   * Calls (protocol version 2): the handlers directory, already resolved (undefined: built-in
   * and in-process methods only), and the TERM-to-KILL grace for a handler being stopped.
   */
  calls?: { handlersDir?: string; killGraceMs?: number; maxQueued?: number };
  /** Speak at most this protocol version (1: never take calls). Default: the newest. */
  protocolVersion?: number;
  /** The agent's certificate (identity.ts): enrolment when it holds none, renewal when it does. */
  identity?: AgentIdentity;
  /** Back-off of a failed renewal: first retry after up to `baseMs`, doubling to `capMs`. */
  renewalBackoff?: BackoffOptions;
}

export interface AgentEvents {
  /** Welcomed by `server` (an entry of the list, as written). */
  connected: [{ server: string; hostId: number }];
  disconnected: [{ server: string; reason: CloseReason }];
  /** A full round failed; the next starts after `delayMs`. */
  roundFailed: [{ servers: number; delayMs: number }];
  /** A `hosts` update was applied and acked ok; `persisted` is false when nothing changed. */
  hostsUpdated: [{ hosts: string[]; algorithm: string; checkInterval: number; persisted: boolean }];
  /** Library face (agentlb/agent): the list the agent now holds, after each accepted update. */
  list: [{ hosts: string[]; algorithm: string; checkInterval: number }];
  /** A `hosts` update was refused (acked ok:false) and the last good list kept. */
  hostsRefused: [{ seq: number; reason: string }];
  /** A preferred-host check found the preferred server unusable (`code` says how). */
  checkFailed: [{ server: string; code: string }];
  /** A `hosts` with `recheck` was applied: `started` says whether a check began for it now. */
  recheck: [{ server: string | undefined; preferred: string | undefined; started: boolean }];
  /** Moved to the preferred server; the old connection was closed after the new one was welcomed. */
  switched: [{ from: string; to: string }];
  /**
   * The check's switches reached the flapping threshold: servers disagree about the list. The
   * check now backs off (`factor` × the interval); failover after a drop is unaffected.
   */
  flapping: [{ servers: string[]; switches: number; windowMs: number; factor: number }];
  /** Flap damping ended: the agent stayed put for a full window, or its server agreed. */
  calmed: [{ reason: 'stayed_put' | 'server_agrees' }];
  /** A certificate was saved: `renewal` false for the first one (enrolment). */
  certified: [{ server: string; renewal: boolean; notAfter: string }];
  /** A renewal failed; retried after `retryInMs`. */
  renewalFailed: [{ reason: string; retryInMs: number }];
}

const SWITCH_ON_CODES = new Set(['draining', 'server_busy', 'shutting_down']);
const LOUD_CODES = new Set(['unauthorized', 'unsupported_version']);

export class Agent extends EventEmitter<AgentEvents> {
  private readonly log: AgentLogger;
  private readonly pool: ServerPool;
  private readonly backoff: Backoff;
  private readonly sessionOptions: SessionOptions;
  private readonly check: PreferredCheck;
  private readonly damper: FlapDamper;
  private readonly unitMs: number;
  private config: AgentConfig & { guid: string };
  private doc: PropertiesDoc;
  private session: Session | undefined;
  private loop: Promise<void> | undefined;
  private started = false;
  private readonly updates: UpdatePipeline;
  private readonly stopper = new AbortController();
  /** A session being replaced by a new one to the same server (enrolment, renewal): its close starts no reconnect. */
  private replacing: Session | undefined;
  private renewalTimer: NodeJS.Timeout | undefined;
  private renewalDue = false;
  private renewing = false;
  private readonly renewalBackoff: Backoff;
  private readonly dispatcher: CallDispatcher;
  private readonly negotiator: VersionNegotiator;
  private readonly startedAt = performance.now();

  constructor(private readonly opts: AgentOptions) {
    super();
    this.log = opts.logger;
    this.negotiator = new VersionNegotiator(opts.logger);
    this.dispatcher = new CallDispatcher({
      ...DEFAULT_DISPATCHER_OPTIONS,
      ...(opts.calls?.killGraceMs === undefined ? {} : { killGraceMs: opts.calls.killGraceMs }),
      ...(opts.calls?.maxQueued === undefined ? {} : { maxQueued: opts.calls.maxQueued }),
      handlersDir: opts.calls?.handlersDir,
      concurrency: opts.config.handlersConcurrency ?? DEFAULT_DISPATCHER_OPTIONS.concurrency,
      info: () => this.info(),
      env: process.env,
    });
    this.config = opts.config;
    this.doc = opts.doc;
    const pool = ServerPool.from(opts.config.hosts, opts.config.port);
    // The config was checked with the same parser, so this cannot fail for a loaded config.
    if (!(pool instanceof ServerPool)) throw new ConfigError(`agent.properties: host: ${pool.message}`);
    this.pool = pool;
    this.backoff = new Backoff(opts.backoff);
    this.sessionOptions = { ...DEFAULT_SESSION_OPTIONS, ...opts.session };
    if (opts.identity !== undefined) this.sessionOptions.tls = opts.identity.tlsOptions();
    this.renewalBackoff = new Backoff({ baseMs: 30_000, capMs: 3_600_000, ...opts.renewalBackoff });
    this.unitMs = opts.intervalUnitMs ?? 1_000;
    this.damper = new FlapDamper({ ...opts.flap, now: opts.now ?? (() => performance.now()) });
    this.check = new PreferredCheck({
      check: () => this.checkPreferred(),
      random: opts.random,
      pace: (intervalMs) => this.pacedInterval(intervalMs),
      timer: opts.checkTimer,
    });
    this.updates = new UpdatePipeline({
      propertiesPath: opts.propertiesPath,
      current: () => ({ doc: this.doc, port: this.config.port }),
      adopt: (msg, doc) => this.adoptUpdate(msg, doc),
      applied: (msg, persisted) => this.updateApplied(msg, persisted),
      refused: (seq, reason) => this.emit('hostsRefused', { seq, reason }),
      logger: this.log,
    });
  }

  /** The server the agent is on (as written in the list), if connected. */
  get currentServer(): string | undefined {
    return this.pool.current?.text;
  }

  /** Whether a connection round (or the back-off before one) is in progress. */
  get connecting(): boolean {
    return this.loop !== undefined;
  }

  /** The handlers directory calls run files from (resolved), if any. */
  get handlersDir(): string | undefined {
    return this.opts.calls?.handlersDir;
  }

  /** Seconds between preferred-host checks, after the operator's override. */
  get checkInterval(): number {
    return effectiveCheckInterval(this.config);
  }

  get hosts(): string[] {
    return this.pool.texts();
  }

  /**
   * Registers an in-process method for calls (library use): `handler(params, context)` returns
   * the value (or a promise of it), JSON-encodable. Runs under handlers.concurrency like a file.
   */
  handle(method: string, handler: CallHandler): void {
    this.dispatcher.handle(method, handler);
  }

  /** `agentlb.info`'s value: who and where this agent is. */
  info(): { [key: string]: string | number | string[] | null } {
    return {
      version: agentlbVersion(),
      guid: this.config.guid,
      hostId: this.session?.welcome.hostId ?? null,
      zone: this.config.zone ?? null,
      server: this.currentServer ?? null,
      list: this.pool.texts(),
      algorithm: this.config.algorithm ?? 'static',
      checkInterval: this.checkInterval,
      uptime: Math.floor((performance.now() - this.startedAt) / 1000),
      node: process.version,
    };
  }

  /** Begin connecting: the first round starts at once. Once only; a stopped agent stays stopped. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.log.info({ servers: this.pool.texts(), guid: this.config.guid, checkInterval: this.checkInterval }, 'agent starting');
    this.runLoop(0);
  }

  /** Stop every timer, close the connection and wait for a save in progress. */
  async stop(): Promise<void> {
    this.stopper.abort();
    clearTimeout(this.renewalTimer);
    this.check.stop();
    this.dispatcher.stopAll();
    this.session?.close();
    await this.loop;
    await this.check.idle();
    await this.updates.settle();
    this.log.info({}, 'agent stopped');
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private hello(): Hello {
    const hello: Hello = {
      type: 'hello',
      version: this.opts.protocolVersion ?? PROTOCOL_VERSION,
      guid: this.config.guid,
      hosts: this.pool.texts(),
      // A bare list is used as written: that is the static algorithm's rule.
      algorithm: this.config.algorithm ?? 'static',
      checkInterval: this.config.serverCheckInterval,
    };
    if (this.config.zone !== undefined) hello.zone = this.config.zone;
    if (this.opts.token !== undefined) hello.token = this.opts.token;
    // Not enrolled yet: every hello asks for a certificate (a server that signs none ignores it).
    const identity = this.opts.identity;
    if (identity !== undefined && !identity.enrolled && identity.pendingCsr !== undefined) hello.csr = identity.pendingCsr;
    return hello;
  }

  private runLoop(firstDelayMs: number, lastResort?: ServerEntry): void {
    const loop: Promise<void> = this.connectRounds(firstDelayMs, lastResort).then(
      () => {
        if (this.loop === loop) this.loop = undefined;
      },
      (err: unknown) => {
        // Only a bug lands here; the agent must outlive it: log, and start over after back-off.
        if (this.loop === loop) this.loop = undefined;
        this.log.error({ err }, 'connect loop failed; retrying');
        if (!this.stopped) this.runLoop(this.backoff.next());
      },
    );
    this.loop = loop;
  }

  private async connectRounds(firstDelayMs: number, lastResort: ServerEntry | undefined): Promise<void> {
    let delayMs = firstDelayMs;
    const identity = this.opts.identity;
    if (identity !== undefined && !identity.enrolled) {
      // The key is made on the thread pool; a failure leaves the hello without a request.
      await identity.csr().catch((err: unknown) => this.log.error({ err }, 'cannot make a key and certificate request; connecting without'));
    }
    while (!this.stopped) {
      if (delayMs > 0 && !(await this.sleep(delayMs))) return;
      // A dropped server's last frames (a drain hands its list over right before the close)
      // may still be saving: the round and its hellos follow the list they leave behind.
      await this.updates.settle();
      for (const entry of this.pool.roundOrder(lastResort)) {
        await this.updates.settle();
        const result = await this.negotiator.open(entry, this.hello(), this.sessionOptions, this.stopper.signal);
        if (result instanceof Session) {
          if (this.stopped) {
            result.close();
            return;
          }
          this.adopt(result);
          return;
        }
        this.logFailure(entry, result);
        if (this.stopped) return;
      }
      delayMs = this.backoff.next();
      this.log.warn(
        { servers: this.pool.texts(), retryInMs: delayMs, round: this.backoff.attempts },
        `all ${this.pool.size} servers unusable; retrying the list in ${delayMs} ms`,
      );
      this.emit('roundFailed', { servers: this.pool.size, delayMs });
    }
  }

  private logFailure(entry: ServerEntry, failure: HandshakeFailure): void {
    const fields = { server: entry.text, code: failure.code, serverCode: failure.serverCode, reason: failure.message };
    if (failure.serverCode !== undefined && LOUD_CODES.has(failure.serverCode)) {
      this.log.error(fields, `server ${entry.text} refused this agent (${failure.serverCode}): check its token, client certificate and version`);
    } else if (failure.code !== 'aborted') {
      this.log.info(fields, `server ${entry.text} unusable`);
    }
  }

  /** Resolves true after `ms`, or false at once if the agent is stopped meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.stopper.signal;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve(!signal.aborted);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private adopt(session: Session): void {
    this.session = session;
    this.pool.setCurrent(session.server);
    this.backoff.reset();
    session.on('hosts', (msg) => this.updates.enqueue(session, msg));
    const origin: CallOrigin = {
      guid: this.config.guid,
      hostId: session.welcome.hostId,
      server: session.server.text,
      reply: (frame) => session.sendResult(frame),
    };
    session.on('call', (call) => this.dispatcher.run(call, origin));
    session.on('cancel', (id) => this.dispatcher.cancel(origin, id));
    // Nobody is left to answer: the calls of a closed connection are stopped, never re-run.
    session.on('closed', () => this.dispatcher.dropOrigin(origin));
    session.on('closed', (reason) => this.onClosed(session, reason));
    this.log.info(
      { server: session.server.text, hostId: session.welcome.hostId, pingIntervalMs: session.pingIntervalMs, protocolVersion: session.version },
      `connected to ${session.server.text}`,
    );
    this.emit('connected', { server: session.server.text, hostId: session.welcome.hostId });
    session.start();
    this.retimeCheck();
    const identity = this.opts.identity;
    if (identity !== undefined && !identity.enrolled && session.welcome.certificate !== undefined) void this.enrolled(session, session.welcome.certificate);
    else if (identity?.enrolled === true && this.renewalTimer === undefined) this.scheduleRenewal();
    if (this.renewalDue) void this.renew();
  }

  /** Saves the first certificate, then reconnects with it (make-before-break). Never rejects. */
  private async enrolled(session: Session, certificate: string): Promise<void> {
    const identity = this.opts.identity!;
    try {
      await identity.accept(certificate);
    } catch (err) {
      this.log.error({ err, server: session.server.text }, 'the certificate the server signed could not be saved; enrolling again at the next connection');
      return;
    }
    this.sessionOptions.tls = identity.tlsOptions();
    const notAfter = new Date(identity.notAfter!).toISOString();
    this.log.info({ server: session.server.text, notAfter }, `enrolled: certificate saved, valid until ${notAfter}; reconnecting with it`);
    this.emit('certified', { server: session.server.text, renewal: false, notAfter });
    this.scheduleRenewal();
    const failure = await this.replaceSession(session, this.hello());
    if (failure !== undefined) this.log.warn({ server: session.server.text, reason: failure }, `reconnecting with the new certificate failed (${failure}); kept the current connection`);
  }

  /** Arms the renewal timer for two thirds into the certificate's lifetime. */
  private scheduleRenewal(delayMs?: number): void {
    clearTimeout(this.renewalTimer);
    const renewAt = this.opts.identity?.renewAt;
    if (renewAt === undefined || this.stopped) return;
    const wait = delayMs ?? Math.max(0, renewAt - Date.now());
    // Beyond a 32-bit timer (~24.8 days): wake up then and look again.
    this.renewalTimer = setTimeout(() => (wait > 2_147_483_647 ? this.scheduleRenewal() : void this.renew()), Math.min(wait, 2_147_483_647));
  }

  /**
   * Renews the certificate over a new connection to the current server, presenting the current
   * certificate; the new connection is adopted before the old one is closed, so the agent is
   * never without a server. A failure is logged and retried with back-off, never fatal.
   */
  private async renew(): Promise<void> {
    const identity = this.opts.identity;
    if (identity === undefined || this.stopped || this.renewing) return;
    const old = this.session;
    if (old === undefined) {
      this.renewalDue = true; // when connected again
      return;
    }
    this.renewalDue = false;
    this.renewing = true;
    let failure: string | undefined;
    try {
      const hello = { ...this.hello(), csr: await identity.csr() };
      failure = await this.replaceSession(old, hello, async (session) => {
        if (session.welcome.certificate === undefined) return `${session.server.text} signed no certificate (started without --ca-dir?)`;
        await identity.accept(session.welcome.certificate);
        this.sessionOptions.tls = identity.tlsOptions();
        return undefined;
      });
    } catch (err) {
      failure = (err as Error).message;
    } finally {
      this.renewing = false;
    }
    if (this.stopped) return;
    if (failure === undefined) {
      this.renewalBackoff.reset();
      const notAfter = new Date(identity.notAfter!).toISOString();
      this.log.info({ server: this.currentServer, notAfter }, `certificate renewed, valid until ${notAfter}`);
      this.emit('certified', { server: this.currentServer ?? old.server.text, renewal: true, notAfter });
      this.scheduleRenewal();
      return;
    }
    const retryInMs = this.renewalBackoff.next();
    this.log.warn({ reason: failure, retryInMs }, `certificate renewal failed (${failure}); retrying in ${retryInMs} ms`);
    this.emit('renewalFailed', { reason: failure, retryInMs });
    this.scheduleRenewal(retryInMs);
  }

  /**
   * Opens a new connection to `old`'s server with `hello` and adopts it in place of `old`, which
   * is closed after (the server, seeing the guid again, may close it first: that close starts no
   * reconnect). `check` may refuse the new session (it is then closed and `old` kept if open).
   * Resolves to undefined on success, else why not.
   */
  private async replaceSession(old: Session, hello: Hello, check?: (session: Session) => Promise<string | undefined>): Promise<string | undefined> {
    this.updates.hold(old);
    this.replacing = old;
    try {
      await this.updates.settle();
      if (this.stopped || this.session !== old || old.closed) return 'the connection changed meanwhile';
      const result = await this.negotiator.open(old.server, hello, this.sessionOptions, this.stopper.signal);
      if (!(result instanceof Session)) return result.serverCode === undefined ? result.message : `${result.serverCode}: ${result.message}`;
      if (this.stopped || this.session !== old) {
        result.close();
        return 'the connection changed meanwhile';
      }
      const refused = await check?.(result).catch((err: unknown) => (err as Error).message);
      if (refused !== undefined) {
        result.close();
        return refused;
      }
      this.updates.drop(old, old.server.text);
      this.replacing = undefined;
      this.adopt(result);
      old.close();
      return undefined;
    } finally {
      this.updates.release(old);
      if (this.replacing === old) {
        this.replacing = undefined;
        // The server closed `old` when the new connection arrived, and the new one was not kept.
        if (old.closed && this.session === old) this.onClosed(old, { code: 'closed', message: 'replaced by a connection that was not kept' });
      }
    }
  }

  private onClosed(session: Session, reason: CloseReason): void {
    // A check that outlives its session switches nowhere: what it held is applied now, before
    // the connect loop below builds a hello.
    this.updates.release(session);
    if (session !== this.session) return; // an old session closed after a switch
    if (session === this.replacing) return; // replaceSession decides once the new one answered
    this.session = undefined;
    this.pool.setCurrent(undefined);
    this.check.stop();
    const level = reason.code === 'local' ? 'info' : 'warn';
    this.log[level]({ server: session.server.text, ...reason }, `disconnected from ${session.server.text}`);
    this.emit('disconnected', { server: session.server.text, reason });
    if (this.stopped) return;
    // A server that said it is going away, or stopped answering (a frozen server would make
    // every agent wait out a handshake timeout first), is tried after every other entry.
    const goingAway = reason.serverCode !== undefined && SWITCH_ON_CODES.has(reason.serverCode);
    const demote = goingAway || reason.code === 'ping_timeout';
    // Jittered even for the first attempt: a restarted server must not get the fleet at once.
    this.runLoop(this.backoff.next(), demote ? session.server : undefined);
  }

  /** An update is on file (update-pipeline.ts): hold its list from now on. */
  private adoptUpdate(msg: Hosts, doc: PropertiesDoc): void {
    this.doc = doc;
    this.pool.replace(msg.hosts); // checked by applyAssignment with the same parser
    this.config = {
      ...this.config,
      hosts: [...msg.hosts],
      algorithm: msg.algorithm as AlgorithmName,
      serverCheckInterval: msg.checkInterval,
    };
  }

  /** An update was acked ok: what follows from the new list. */
  private updateApplied(msg: Hosts, persisted: boolean): void {
    this.emit('hostsUpdated', { hosts: [...msg.hosts], algorithm: msg.algorithm, checkInterval: msg.checkInterval, persisted });
    this.emit('list', { hosts: [...msg.hosts], algorithm: msg.algorithm, checkInterval: msg.checkInterval });
    this.judgeList();
    this.retimeCheck();
    if (msg.recheck === true) this.recheckNow();
  }

  /**
   * The server asked for a preferred-host check now (a rebalance moving this agent). Only away
   * from the preferred server; a check already in flight answers for it.
   */
  private recheckNow(): void {
    const away = !this.stopped && this.session !== undefined && this.pool.awayFromPreferred();
    const started = away && this.check.runNow();
    const fields = { server: this.currentServer, preferred: this.pool.preferred?.text, started };
    this.log.info(fields, away ? `recheck asked by ${this.currentServer}: checking ${fields.preferred} now` : 'recheck asked: already on the preferred server');
    this.emit('recheck', fields);
  }

  /** Start, re-time or stop the preferred check for the current interval and position. */
  private retimeCheck(): void {
    if (this.stopped || this.session === undefined || !this.pool.awayFromPreferred()) {
      this.check.stop();
      return;
    }
    this.check.schedule(this.checkInterval * this.unitMs);
  }

  /** The interval the check waits for a base of `intervalMs`: stretched while flapping. */
  private pacedInterval(intervalMs: number): number {
    const paced = this.damper.paceFor(intervalMs);
    if (paced.calmed) this.calmed('stayed_put');
    return paced.intervalMs;
  }

  private calmed(reason: 'stayed_put' | 'server_agrees'): void {
    const why = reason === 'stayed_put' ? 'the agent stayed put for a full window' : `${this.currentServer ?? 'its server'} names itself first`;
    this.log.info({ reason, checkInterval: this.checkInterval }, `preferred-host check back to its normal interval: ${why}`);
    this.emit('calmed', { reason });
  }

  /**
   * A list from the server the agent is on, for flap damping (flap-damper.ts): naming that
   * server first, the servers agree and damping ends; naming another right after the check
   * landed there, the switch was a flap (a failback lands on a server that agrees). Warns
   * once when the flaps become flapping.
   */
  private judgeList(): void {
    const server = this.currentServer;
    if (server === undefined) return;
    const verdict = this.damper.listFrom(server, !this.pool.awayFromPreferred(), this.checkInterval * this.unitMs);
    if (verdict.kind === 'agrees' && verdict.calmed) this.calmed('server_agrees');
    if (verdict.kind !== 'flap') return;
    // The next check may already be timed at the old pace: re-time it at the new one.
    if (verdict.factorChanged) this.check.repace();
    const onset = verdict.onset;
    if (onset === undefined) return;
    const factor = this.damper.factor;
    this.log.warn(
      { servers: onset.servers, switches: onset.switches, windowMs: onset.windowMs, factor },
      `preferred-host check moved this agent ${onset.switches} times within ${onset.windowMs} ms between ${onset.servers.join(', ')}: ` +
        'the servers disagree about its list (are they sharing one registry? see README "Cluster mode"); ' +
        `backing the check off to ${factor}x its interval, doubling on each further switch (failover after a drop is unaffected)`,
    );
    this.emit('flapping', { ...onset, factor });
  }

  /** One preferred-host check: a real handshake, then make-before-break. Never rejects. */
  private async checkPreferred(): Promise<void> {
    try {
      await this.tryPreferred();
    } catch (err) {
      this.log.error({ err }, 'preferred-host check failed');
    }
  }

  private async tryPreferred(): Promise<void> {
    const old = this.session;
    if (old === undefined || !this.pool.awayFromPreferred()) return;
    // Until the check settles, the current server's `hosts` are held: none may change the list
    // between the hello that announces it and the switch (update-pipeline.ts: drop, release).
    this.updates.hold(old);
    try {
      await this.switchToPreferred(old);
    } finally {
      this.updates.release(old); // nothing left to release after a switch
    }
  }

  private async switchToPreferred(old: Session): Promise<void> {
    await this.updates.settle(); // those accepted before the hold
    const target = this.pool.preferred;
    if (this.stopped || old.closed || target === undefined || !this.pool.awayFromPreferred()) return;
    const result = await this.negotiator.open(target, this.hello(), this.sessionOptions, this.stopper.signal);
    if (!(result instanceof Session)) {
      this.logFailure(target, result);
      if (result.code !== 'aborted') this.emit('checkFailed', { server: target.text, code: result.serverCode ?? result.code });
      return;
    }
    // The world may have moved on while we waited: only switch from the session we left.
    if (this.stopped || this.session !== old || old.closed || !this.pool.isPreferred(target)) {
      result.close();
      return;
    }
    this.updates.drop(old, target.text); // first: a throwing listener in adopt must not release them
    this.damper.switched(old.server.text, target.text); // a flap or not: the landing server's list says (judgeList)
    this.adopt(result); // the new connection is welcomed and current ...
    old.close(); // ... before the old one is closed
    this.log.info({ from: old.server.text, to: target.text }, `switched back to preferred server ${target.text}`);
    this.emit('switched', { from: old.server.text, to: target.text });
  }
}
