import { createLogger } from '../../shared/runtime/logger';
import { readImportConfig, type ImporterConfig } from '../../shared/runtime/config';
import type { ObjectEvent } from '../../shared/core/event';
import type { ObjectResult } from '../../shared/core/outcome';
import { endFailedVersion } from '../../shared/import/final-failure';
import { endKeyOnDelete } from '../../shared/import/object-removed';
import { processObjectEvent } from '../../shared/import/pipeline';
import { stateLayout } from '../../shared/state/layout';
import { parseRecord } from '../../shared/state/records';
import type { PreviousPolicy } from '../../shared/core/rules';
import { trackImports, type TrackerDeps } from '../../shared/track/tracker';
import { VirtualClock } from '../helpers/virtual-clock';
import { World, type Caller, type FaultKind } from '../helpers/world';

/**
 * The fault explorer: runs a scenario (uploads and deliveries on a virtual clock) in an
 * in-memory world, as FC would (asynchronous retries after a failure or a crash, 3 at
 * most), with the tracker every 5 minutes, then checks the importer's promises.
 */

export const BUCKET = 'ens-images';
const FUNCTION_TIMEOUT_MS = 120_000;
const MARGIN_MS = 5_000;
const FC_RETRY_DELAY_MS = 10_000;
const TRACKER_EVERY_MS = 5 * 60_000;

export interface Delivery {
  at: number;
  key: string;
  /** the upload this event reports: its OSS request id */
  upload: string;
}

export interface ScenarioWorld {
  world: World;
  deliver(d: Omit<Delivery, 'at'>, afterMs: number): void;
  upload(key: string, body: Buffer, afterMs: number, meta?: Record<string, string>): string;
  /** keys whose current version must end as one image (true) or none (false) */
  expect: Map<string, boolean>;
  /** `key outcome` pairs the fault-free run must pass through (the path the scenario is about) */
  mustPass: string[];
  /** keys whose current version must end handed to the converter (a `.img` that is not qcow2) */
  handedOff: Set<string>;
  /** the rules' `previous:` (keep unless a scenario says) */
  previous: PreviousPolicy;
  /** the rules' `names:` (unique unless a scenario says) */
  names: 'unique' | 'allow-duplicates';
  /** the rules' `onDelete:` (keep unless a scenario says) */
  onDelete: 'keep' | 'delete-image';
  /** the object deleted at `afterMs`, its ObjectRemoved event delivered right after */
  remove(key: string, afterMs: number): void;
  /** keys whose earlier versions' images must end deleted (superseded, previous: delete-after-available) */
  olderGone: Set<string>;
}

export type Scenario = (s: ScenarioWorld) => void;

export interface Run {
  world: World;
  violations: string[];
  results: ObjectResult[];
  mustPass: string[];
}

const config: ImporterConfig = { ...readImportConfig({}, process.cwd()), ensTimeoutMs: 30_000, converterFunction: 'ens-convert-image' };
const fcError = () => Object.assign(new Error('FC is unavailable'), { code: 'ServiceUnavailable' });
const layout = stateLayout(config.statePrefix);
const silent = createLogger(() => undefined, {}, []);

export async function runScenario(scenario: Scenario, faults: Map<number, FaultKind>): Promise<Run> {
  const clock = new VirtualClock();
  const world = new World(clock, BUCKET, faults);
  const start = clock.now();
  const results: ObjectResult[] = [];
  const violations: string[] = [];
  let invocations = 0;
  let busy = 0;

  /** ens-import-failed, as FC runs it: asynchronously, retried on a throw or a crash. */
  const giveUp = (event: ObjectEvent, attempt: number): void => {
    busy += 1;
    const caller: Caller = { id: `fail-${++invocations}`, deadline: clock.now() + FUNCTION_TIMEOUT_MS - MARGIN_MS, crashed: false };
    const again = () => {
      if (attempt < 3) clock.at(clock.now() + FC_RETRY_DELAY_MS, () => giveUp(event, attempt + 1));
    };
    clock.at(clock.now() + FUNCTION_TIMEOUT_MS, () => {
      if (caller.crashed) {
        busy -= 1;
        again();
      }
    });
    const deps = {
      config: runConfig(),
      store: world.store(caller, caller.deadline),
      ens: world.ens(caller),
      log: silent,
      requestId: caller.id,
      deadline: caller.deadline,
      clock,
    };
    void endFailedVersion(event, 'FC gave up (ServiceUnavailable)', deps).then(
      (r) => {
        busy -= 1;
        results.push(r);
      },
      () => {
        busy -= 1;
        again();
      },
    );
  };

  const invoke = (event: ObjectEvent, attempt: number): void => {
    busy += 1;
    const began = clock.now();
    const caller: Caller = { id: `inv-${++invocations}`, deadline: began + FUNCTION_TIMEOUT_MS - MARGIN_MS, crashed: false };
    // FC retries 3 times, then sends the event to the on-failure destination
    const retry = (at: number) => {
      if (attempt < 3) clock.at(at + FC_RETRY_DELAY_MS, () => invoke(event, attempt + 1));
      else clock.at(at + FC_RETRY_DELAY_MS, () => giveUp(event, 0));
    };
    // FC kills the instance at its timeout: a crashed invocation ends there
    clock.at(began + FUNCTION_TIMEOUT_MS, () => {
      if (caller.crashed) {
        busy -= 1;
        retry(clock.now());
      }
    });
    // the import function's routing: a removal ends the key by its rule, anything else is an upload
    const handle = event.eventName.startsWith('ObjectRemoved:') ? endKeyOnDelete : processObjectEvent;
    void handle(event, {
      config: runConfig(),
      store: world.store(caller, caller.deadline),
      ens: world.ens(caller),
      log: silent,
      requestId: caller.id,
      deadline: caller.deadline,
      clock,
      // the hand-off is a remote call like any other: numbered, and faulted by the plan
      handOff: (e) => world.call(caller, 'InvokeFunction', 30_000, () => void world.handOffs.push({ key: e.key, etag: e.etag }), fcError),
    }).then(
      (r) => {
        busy -= 1;
        results.push(r);
        if (r.outcome === 'failed') retry(clock.now());
      },
      (err) => {
        busy -= 1;
        violations.push(`invocation threw instead of reporting: ${(err as Error).stack}`);
      },
    );
  };

  const expect = new Map<string, boolean>();
  const handedOff = new Set<string>();
  const olderGone = new Set<string>();
  const mustPass: string[] = [];
  let lastEventAt = start;
  const setup: ScenarioWorld = {
    world,
    expect,
    mustPass,
    handedOff,
    olderGone,
    previous: 'keep',
    names: 'unique',
    onDelete: 'keep',
    remove(key, afterMs) {
      lastEventAt = Math.max(lastEventAt, start + afterMs + 1);
      clock.at(start + afterMs, () => void world.objects.delete(key));
      clock.at(start + afterMs + 1, () =>
        invoke(
          { eventName: 'ObjectRemoved:DeleteObject', region: 'cn-beijing', bucket: BUCKET, key, requestId: `rm-${key}-${afterMs}` },
          0,
        ),
      );
    },
    upload(key, body, afterMs, meta = {}) {
      const upload = `up-${key}-${afterMs}`;
      lastEventAt = Math.max(lastEventAt, start + afterMs);
      clock.at(start + afterMs, () => void world.put(key, body, meta));
      return upload;
    },
    deliver(d, afterMs) {
      lastEventAt = Math.max(lastEventAt, start + afterMs);
      clock.at(start + afterMs, () => {
        const o = world.objects.get(d.key);
        invoke(
          {
            eventName: 'ObjectCreated:PutObject',
            region: 'cn-beijing',
            bucket: BUCKET,
            key: d.key,
            etag: o?.etag ?? 'GONE',
            size: o?.body.length,
            requestId: d.upload,
          },
          0,
        );
      });
    },
  };
  scenario(setup);
  const runConfig = (): ImporterConfig => ({
    ...config,
    rules: { ...config.rules, names: setup.names, rules: config.rules.rules.map((r) => ({ ...r, onDelete: setup.onDelete })) },
  });

  /** One tracker run as the timer function makes it, in this world, as `caller`. */
  const trackerRun = (caller: Caller, storeDeadline: number, runDeadline: number): TrackerDeps => ({
    settings: {
      statePrefix: config.statePrefix,
      importTimeoutMs: 6 * 3_600_000,
      missingGraceMs: 10 * 60_000,
      pageSize: 50,
      applyConcurrency: 4,
    },
    store: world.store(caller, storeDeadline),
    ens: world.ens(caller),
    log: silent,
    requestId: caller.id,
    runDeadline,
    clock,
    previousPolicy: () => setup.previous,
  });

  // the tracker every 5 minutes until every import is final and nothing is running
  let tracker = 0;
  const track = (): void => {
    busy += 1;
    const caller: Caller = { id: `track-${++tracker}`, deadline: clock.now() + FUNCTION_TIMEOUT_MS - 10_000, crashed: false };
    clock.at(clock.now() + FUNCTION_TIMEOUT_MS, () => {
      if (caller.crashed) busy -= 1;
    });
    void trackImports(trackerRun(caller, caller.deadline + 8_000, caller.deadline)).then(
      () => (busy -= 1),
      (err) => {
        busy -= 1;
        violations.push(`tracker threw: ${(err as Error).message}`);
      },
    );
  };
  // a deletion still queued (refused, tried again later) keeps the timer going, as in the cloud
  const pendingLeft = () =>
    [...world.objects.keys()].some((k) => k.startsWith(layout.pendingPrefix) || k.startsWith(layout.deletionsPrefix));
  const tick = (): void => {
    if (tracker > 40) return;
    track();
    clock.at(clock.now() + TRACKER_EVERY_MS, () => {
      if (busy > 1 || pendingLeft() || clock.now() < lastEventAt + 20 * 60_000) tick();
    });
  };
  clock.at(start + TRACKER_EVERY_MS, tick);
  let finished = await clock.run(start + 4 * 3_600_000);
  // once quiet, the timer fires once more, as it would in the cloud
  clock.at(clock.now() + TRACKER_EVERY_MS, track);
  // and the checks look at the world well after it (a lock a crashed run left has expired)
  const end = clock.now() + 3 * TRACKER_EVERY_MS;
  clock.at(end, () => undefined);
  finished &&= await clock.run(end);
  // nothing left behind may block the next run: one more, fault-free, must get the lock
  faults.clear();
  const verifier: Caller = { id: 'verify', deadline: end + 60_000, crashed: false };
  const verify = trackImports(trackerRun(verifier, end + 60_000, end + 50_000));
  finished &&= await clock.run(end + 60_000);
  const verdict = await verify;
  if (verdict.skipped) violations.push(`a tracker run after the world went quiet was refused: ${verdict.skipped}`);
  if (!finished) violations.push('the world did not go quiet (step budget exhausted)');
  violations.push(...checkInvariants(world, expect), ...checkHandOffs(world, handedOff), ...checkOlderGone(world, olderGone));
  if (setup.names === 'unique') violations.push(...checkNamesUnique(world));
  return { world, violations, results, mustPass };
}

/** A handed-off version: its record says so, FC took at least one invocation for it, no image. */
function checkHandOffs(world: World, keys: Set<string>): string[] {
  const v: string[] = [];
  for (const key of keys) {
    const obj = world.objects.get(key)!;
    const record = parseRecord(world.objects.get(layout.claimKey(BUCKET, key, obj.etag))?.body.toString('utf8'));
    if (record?.state !== 'converting') v.push(`${key}: record ${record?.state ?? 'missing'}, want converting (handed off)`);
    if (!world.handOffs.some((h) => h.key === key && h.etag === obj.etag)) v.push(`${key}: never handed to the converter`);
    if (world.images.some((i) => i.key === key)) v.push(`${key}: imported, but it is not qcow2`);
  }
  return v;
}

/** names: unique: no two keys' live images share a name (images made before the scenario aside). */
function checkNamesUnique(world: World): string[] {
  const keysOf = new Map<string, Set<string>>();
  for (const i of world.images)
    if (!i.id.startsWith('m-old') && world.exists(i) && world.statusOf(i) !== 'Pack_failed')
      keysOf.set(i.name, (keysOf.get(i.name) ?? new Set()).add(i.key));
  return [...keysOf]
    .filter(([, keys]) => keys.size > 1)
    .map(([name, keys]) => `two keys made images named ${name}: ${[...keys].join(', ')}`);
}

/** Under previous: delete-after-available, every earlier version's image is deleted and its record says so. */
function checkOlderGone(world: World, keys: Set<string>): string[] {
  const v: string[] = [];
  for (const key of keys) {
    const current = world.objects.get(key)?.etag;
    for (const image of world.images.filter((i) => i.key === key && i.etag !== current)) {
      if (world.exists(image)) v.push(`${key}: the earlier version's image ${image.id} is still in ENS`);
      const record = parseRecord(world.objects.get(layout.claimKey(BUCKET, key, image.etag ?? ''))?.body.toString('utf8'));
      if (record?.imageId === image.id && (record.state !== 'superseded' || record.imageDeletion?.state !== 'deleted'))
        v.push(`${key}: the earlier version's record is ${record.state} (${record.imageDeletion?.state ?? 'no deletion'})`);
    }
  }
  return v;
}

/** The importer's promises, checked on the quiet world. */
export function checkInvariants(world: World, expect: Map<string, boolean>): string[] {
  const v: string[] = [];
  const live = (i: { id: string }) => {
    const image = world.images.find((x) => x.id === i.id)!;
    return world.exists(image) && world.statusOf(image) !== 'Pack_failed';
  };
  // no version ever has two live images
  const byVersion = new Map<string, number>();
  for (const i of world.images) if (i.etag && live(i)) byVersion.set(`${i.key}@${i.etag}`, (byVersion.get(`${i.key}@${i.etag}`) ?? 0) + 1);
  for (const [version, n] of byVersion) if (n > 1) v.push(`${n} live images for ${version}`);
  for (const [key, shouldImport] of expect) {
    const obj = world.objects.get(key);
    if (!obj) continue;
    const images = world.images.filter((i) => i.key === key && i.etag === obj.etag && live(i));
    if (shouldImport && images.length !== 1) v.push(`${key}: ${images.length} live images for its current version, want 1`);
    if (!shouldImport && images.length) v.push(`${key}: imported, but it should not be`);
    const record = parseRecord(world.objects.get(layout.claimKey(BUCKET, key, obj.etag))?.body.toString('utf8'));
    if (!record) {
      v.push(`${key}: no import record for its current version`);
      continue;
    }
    if (record.state === 'claimed') v.push(`${key}: record still claimed`);
    const tags = Object.fromEntries(obj.tags);
    if (tags['ens:status'] !== record.state) v.push(`${key}: tag ens:status=${tags['ens:status']} but record ${record.state}`);
    if ((tags['ens:image-id'] ?? undefined) !== record.imageId)
      v.push(`${key}: tag ens:image-id=${tags['ens:image-id']} but record ${record.imageId}`);
    if (shouldImport && record.state !== 'available') v.push(`${key}: record ${record.state} (${record.errorCode ?? ''}), want available`);
    if (shouldImport && images[0] && record.imageId !== images[0].id)
      v.push(`${key}: record names ${record.imageId}, the image is ${images[0].id}`);
  }
  for (const k of world.objects.keys()) {
    if (!k.startsWith(layout.prefix)) continue;
    if (/\.g\d+$/.test(k)) v.push(`takeover marker left: ${k}`);
    if (k === layout.trackerLockKey && Date.parse(JSON.parse(world.objects.get(k)!.body.toString()).until) > world.clock.now())
      v.push('tracker lock left, still live');
    if (k.startsWith(layout.pendingPrefix)) v.push(`pending entry left: ${k}`);
    if (k.startsWith(layout.waitingPrefix)) v.push(`waiting entry left: ${k}`);
  }
  return v;
}
