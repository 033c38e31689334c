import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ObjectStore } from '../../shared/adapters/oss';
import { TAG_IMAGE_ID, TAG_STATUS, TAG_ERROR } from '../../shared/core/tags';
import { stateLayout } from '../../shared/state/layout';
import { ALL_WATCHED_SUFFIXES } from '../../shared/lifecycle/job-of';
import { parseRecord } from '../../shared/state/records';
import { declaredFunctions } from '../deployment';
import { EXIT, UsageError, age, parseOssUrl, printTable, withGlobalOptions, type GlobalOptions } from '../settings';
import { storeFor } from '../importer-settings';

export interface ObjectState {
  key: string;
  size: number;
  lastModified: string;
  etag: string;
  status: string;
  imageId?: string;
  error?: string;
  reason?: string;
}

/**
 * The suffixes to list: every one a deployment can watch, or, when the operator names an s.yaml,
 * its triggers' suffixes. Never whatever s.yaml happens to be in the current folder: run
 * elsewhere, that silently dropped the converted formats.
 */
export function watchedSuffixes(sYamlPath: string | undefined): readonly string[] {
  if (!sYamlPath) return ALL_WATCHED_SUFFIXES;
  if (!existsSync(sYamlPath)) throw new UsageError(`--s-yaml ${sYamlPath}: no such file`);
  const suffixes = declaredFunctions(resolve(sYamlPath)).flatMap((f) => f.ossTriggers.map((t) => t.suffix ?? ''));
  return suffixes.length ? [...new Set(suffixes)] : ALL_WATCHED_SUFFIXES;
}

/** Every watched object under a prefix with the importer's tags (ListObjectsV2, paged). */
export async function listImageObjects(
  store: ObjectStore,
  prefix: string,
  statePrefix: string,
  suffixes: readonly string[] = ['.qcow2'],
  concurrency = 16,
): Promise<ObjectState[]> {
  const objects: { key: string; size: number; lastModified: string; etag: string }[] = [];
  let token: string | undefined;
  do {
    const page = await store.listPage(prefix, token);
    objects.push(...page.objects.filter((o) => suffixes.some((s) => o.key.endsWith(s)) && !o.key.startsWith(statePrefix)));
    token = page.nextToken;
  } while (token);
  const states: ObjectState[] = new Array(objects.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, objects.length) }, async () => {
      while (next < objects.length) {
        const i = next++;
        const o = objects[i]!;
        // one object's error (a refused tag read, a key the SDK cannot address) never stops the listing
        const tags = await store.getTags(o.key).catch((err: Error & { code?: string }) => err);
        if (tags instanceof Error) {
          states[i] = { ...o, status: 'unreadable', error: `${tags.code ?? tags.name}: ${tags.message.slice(0, 200)}` };
          continue;
        }
        states[i] = {
          ...o,
          status: tags?.[TAG_STATUS] ?? (tags?.[TAG_IMAGE_ID] ? 'importing' : 'not-imported'),
          imageId: tags?.[TAG_IMAGE_ID],
          error: tags?.[TAG_ERROR],
        };
      }
    }),
  );
  return states;
}

/** `24h`, `30m`, `7d` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  if (!m) throw new UsageError(`--since takes a duration such as 30m, 24h or 7d, not "${text}"`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

interface StatusOptions extends GlobalOptions {
  failed?: boolean;
  rejected?: boolean;
  since?: string;
  prefix?: string;
  sYaml?: string;
}

export function registerStatus(program: Command): void {
  withGlobalOptions(
    program
      .command('status <url>')
      .description('every watched object under oss://bucket/prefix: status, ImageId, reason, age, and the counts per status')
      .option('--failed', 'only failed objects (with --rejected: both)')
      .option('--rejected', 'only rejected objects')
      .option('--since <duration>', 'only objects modified within this long, e.g. 24h')
      .option('--prefix <prefix>', 'only keys under this prefix (instead of the URL’s)')
      .option('--s-yaml <file>', "only the suffixes this s.yaml's triggers watch (default: every suffix the importer can watch)"),
  ).action(async (url: string, opts: StatusOptions) => {
    const { bucket, key } = parseOssUrl(url);
    const prefix = opts.prefix ?? key;
    const since = opts.since ? Date.now() - parseDuration(opts.since) : undefined;
    const store = await storeFor(opts, bucket);
    const wanted = new Set([...(opts.failed ? ['failed'] : []), ...(opts.rejected ? ['rejected'] : [])]);
    const states = (await listImageObjects(store, prefix, opts.statePrefix, watchedSuffixes(opts.sYaml))).filter(
      (s) => (!wanted.size || wanted.has(s.status)) && (since === undefined || Date.parse(s.lastModified) >= since),
    );
    await addReasons(store, bucket, opts.statePrefix, states);
    const counts: Record<string, number> = {};
    for (const s of states) counts[s.status] = (counts[s.status] ?? 0) + 1;
    if (opts.json) console.log(JSON.stringify({ bucket, prefix, total: states.length, counts, objects: states }, null, 2));
    else {
      printTable([
        ['KEY', 'STATUS', 'IMAGE ID', 'AGE', 'REASON'],
        ...states.map((s) => [s.key, s.status, s.imageId ?? '', age(s.lastModified), s.reason ?? s.error ?? '']),
      ]);
      const summary = Object.entries(counts).map(([k, v]) => `${k} ${v}`);
      console.log(`\n${states.length} objects: ${summary.join(', ') || 'none'}`);
    }
    process.exitCode = EXIT.ok;
  });
}

/** The record's full reason for the objects that need one (failed, rejected, retrying). */
async function addReasons(store: ObjectStore, bucket: string, statePrefix: string, states: ObjectState[]): Promise<void> {
  const layout = stateLayout(statePrefix);
  for (const s of states) {
    if (!['failed', 'rejected', 'retrying'].includes(s.status)) continue;
    const record = parseRecord(await store.getText(layout.claimKey(bucket, s.key, s.etag.toUpperCase())));
    const reason = record?.reason ?? record?.history?.at(-1)?.note;
    if (reason) s.reason = `${s.error ?? record?.errorCode ?? ''}: ${reason}`.slice(0, 200);
  }
}
