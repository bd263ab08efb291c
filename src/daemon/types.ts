import type { MonitorOptions } from '../monitor/monitor.js';
import type { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { Context } from '../context.js';
import type { SupervisorEvents } from '../monitor/events.js';
import type { ArchiveProbe, Snapshot } from '../monitor/snapshot.js';

/**
 * The supervisor's plug-in seam. Other domains add behaviour to `pgfollower run` without editing
 * the daemon:
 *
 * - the archive domain passes an `archiveProbe` (called once per tick, after the local and leader
 *   samples are taken, so it can look for the segment the follower needs next) and a prefetch
 *   `SupervisorService`;
 * - the alerts domain passes a `SupervisorService` whose `start(handle)` subscribes to
 *   `handle.events` ('state:change', 'slot:lost', 'wal:stalled', ...);
 * - a service that repairs something (e.g. recreates a lost slot) emits on `handle.events`
 *   itself ('slot:recreated').
 *
 * Services start after the first snapshot is taken (so `handle.latest()` is defined) and stop in
 * reverse order on shutdown, before the connections close. A service that throws from `start`
 * stops the supervisor: a misconfigured plug-in must not run half-installed.
 *
 *     await using supervisor = await startSupervisor(ctx, { services: [alerts], archiveProbe });
 *     supervisor.events.on('state:change', ({ from, to }) => ...);
 *     await supervisor.stop('test over');
 */

/** What a service's start returns: how to stop it. stop() must resolve within a few seconds. */
export interface RunningService {
  stop(): Promise<void>;
}

export interface SupervisorService {
  /** For logs: "starting service alerts". */
  name: string;
  start(handle: SupervisorHandle): Promise<RunningService> | RunningService;
}

/** A typed emitter of SupervisorEvents (node:events with the event map as type argument). */
export type SupervisorEmitter = EventEmitter<SupervisorEvents>;

/**
 * What a domain plugs into `pgfollower run` (composed in src/app/plugins.ts): services and at most
 * one archive probe. A factory returns undefined when its feature is not configured.
 */
export interface SupervisorPlugin {
  services?: SupervisorService[];
  archiveProbe?: ArchiveProbe;
}

export interface SupervisorOptions {
  services?: readonly SupervisorService[];
  archiveProbe?: ArchiveProbe;
  /** Upper bound of the reconnect backoff, ms (default 30 s). Tests lower it. */
  maxBackoffMs?: number;
  /** Serve the HTTP API on config.http.listen when config.http.enabled (default true). */
  http?: boolean;
  /** Catch-up estimate timings (monitor/catchup.ts); tests shorten them. */
  catchUp?: MonitorOptions['catchUp'];
}

export interface SupervisorHandle {
  /** The context the supervisor runs with; `config` is the current one (replaced on reload). */
  readonly context: Context;
  /** Resolves when the supervisor has stopped and released everything; rejects on a fatal error. */
  readonly done: Promise<void>;
  readonly events: SupervisorEmitter;
  /** Aborts when the supervisor stops (stop() or ctx.signal): services pass it to connects and queries. */
  readonly signal: AbortSignal;
  /** Prometheus registry served at /metrics: services may register their own metrics here. */
  readonly metrics: Registry;
  /** The last snapshot, undefined until the first tick finished. */
  latest(): Snapshot | undefined;
  /** HTTP address actually bound (port 0 resolves to a real one), undefined when HTTP is off. */
  httpAddress(): { host: string; port: number } | undefined;
  /** Swap in a reloaded config (SIGHUP). Interval, thresholds and conninfos apply from the next tick. */
  reload(config: Context['config']): void;
  /** Stops services, timers, HTTP and connections; resolves when done. Idempotent. */
  stop(reason?: string): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
