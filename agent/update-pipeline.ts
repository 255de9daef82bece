/**
 * The agent's `hosts` update pipeline: every update a server sends is checked, persisted (only
 * when something changed), adopted and acked, one at a time in arrival order, so two saves of
 * agent.properties never overlap and memory never runs ahead of the file.
 *
 * While a preferred-host check is in flight the current server's updates are held (hold): none
 * may change the list between the hello that announces it and the switch. When the check ends
 * without a switch they are released into the queue in the order they came (release); when it
 * switched they are dropped, neither applied nor acked (drop): the new server compared the
 * hello's list with its own, and applying the old server's list would leave the agent on one no
 * server will correct.
 *
 * The agent (agent.ts) decides what an applied update means (the pool, the check, flap damping);
 * this module owns the order and the file.
 */
import type { Ack, Hosts } from '../src/protocol/messages';
import { applyAssignment, ConfigError } from './config';
import { parseProperties, savePropertiesFile, type PropertiesDoc } from './properties';

/** Where an update came from and where its ack goes: a Session. */
export interface UpdateSource {
  readonly server: { readonly text: string };
  sendAck(ack: Ack): void;
}

/** The logger calls the pipeline makes; a pino Logger fits. */
export interface UpdateLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface UpdatePipelineOptions {
  /** agent.properties, where updates are persisted. */
  propertiesPath: string;
  /** The file as the agent holds it now, and the port an entry without one means. */
  current(): { doc: PropertiesDoc; port: number };
  /**
   * The update is on file (`persisted`: it had to be written) and `doc` is the file's new
   * content: take it over. Called before the ok ack.
   */
  adopt(msg: Hosts, doc: PropertiesDoc, persisted: boolean): void;
  /** After the ok ack: what follows from the new list (events, the check). */
  applied(msg: Hosts, persisted: boolean): void;
  /** The update was refused (acked ok:false with `reason`); the last good list stays. */
  refused(seq: number, reason: string): void;
  logger: UpdateLogger;
  /** Writes the file; savePropertiesFile (atomic replace). Injected by tests to pace saves. */
  save?: (filePath: string, doc: PropertiesDoc) => Promise<void>;
}

export class UpdatePipeline {
  private readonly save: (filePath: string, doc: PropertiesDoc) => Promise<void>;
  /** The tail of the queue: resolves once every update accepted so far is handled. */
  private tail: Promise<void> = Promise.resolve();
  /** Updates from `source` held while a preferred-host check is in flight. */
  private held: { source: UpdateSource; frames: Hosts[] } | undefined;

  constructor(private readonly opts: UpdatePipelineOptions) {
    this.save = opts.save ?? savePropertiesFile;
  }

  /** Queues `msg` from `source` (or holds it, while `source` is held). */
  enqueue(source: UpdateSource, msg: Hosts): void {
    if (this.held?.source === source) {
      this.held.frames.push(msg);
      this.opts.logger.debug({ server: source.server.text, seq: msg.seq }, 'hosts update held until the preferred-host check settles');
      return;
    }
    let acked = false;
    const reply = (ack: Ack): void => {
      acked = true;
      source.sendAck(ack);
    };
    this.tail = this.tail.then(() =>
      this.apply(msg, reply).catch((err: unknown) => {
        this.opts.logger.error({ err, seq: msg.seq }, 'hosts update failed');
        if (!acked) reply({ type: 'ack', seq: msg.seq, ok: false, error: `internal error: ${String(err)}` });
      }),
    );
  }

  /** From now until release or drop, `source`'s updates wait (one source at a time). */
  hold(source: UpdateSource): void {
    this.held = { source, frames: [] };
  }

  /** The check is over without a switch: `source`'s held updates join the queue, in order. */
  release(source: UpdateSource): void {
    const held = this.held;
    if (held?.source !== source) return;
    this.held = undefined;
    for (const msg of held.frames) this.enqueue(source, msg);
  }

  /** The check switched to `to`: `source`'s held updates are neither applied nor acked. */
  drop(source: UpdateSource, to: string): void {
    const held = this.held;
    if (held?.source !== source) return;
    this.held = undefined;
    if (held.frames.length === 0) return;
    this.opts.logger.info(
      { from: source.server.text, to, seqs: held.frames.map((msg) => msg.seq) },
      `hosts updates from ${source.server.text} not applied: superseded by the switch to ${to}`,
    );
  }

  /**
   * Resolves once every accepted update is handled, including those accepted meanwhile, so a
   * hello built next announces the list the agent is about to hold, not the one a save in
   * progress replaces. Held updates are not waited for.
   */
  async settle(): Promise<void> {
    let pending: Promise<void>;
    do {
      pending = this.tail;
      await pending;
    } while (pending !== this.tail);
  }

  /** Check, persist and adopt one update; `reply` sends its one ack. */
  private async apply(msg: Hosts, reply: (ack: Ack) => void): Promise<void> {
    const { logger } = this.opts;
    const { doc, port } = this.opts.current();
    // Work on a copy: the live doc changes only once the file on disk has.
    const next = parseProperties(doc.toString());
    const changed = applyAssignment(next, msg, port);
    const refuse = (reason: string): void => {
      logger.error({ seq: msg.seq, hosts: msg.hosts, algorithm: msg.algorithm, reason }, 'hosts update refused');
      reply({ type: 'ack', seq: msg.seq, ok: false, error: reason });
      this.opts.refused(msg.seq, reason);
    };
    if (changed instanceof ConfigError) return refuse(changed.message);
    if (changed) {
      try {
        await this.save(this.opts.propertiesPath, next);
      } catch (err) {
        return refuse(`cannot save ${this.opts.propertiesPath}: ${(err as Error).message}`);
      }
    }
    this.opts.adopt(msg, next, changed);
    reply({ type: 'ack', seq: msg.seq, ok: true });
    logger.info(
      { seq: msg.seq, hosts: msg.hosts, algorithm: msg.algorithm, checkInterval: msg.checkInterval, persisted: changed },
      changed ? 'hosts update persisted' : 'hosts update already on file',
    );
    this.opts.applied(msg, changed);
  }
}
