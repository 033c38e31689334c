import type { Command } from 'commander';
import { createEnsApi } from '../../shared/adapters/ens';
import type { ObjectStore } from '../../shared/adapters/object-store';
import { stateLayout } from '../../shared/state/layout';
import { encodeRecord, parseRecord, withHistory } from '../../shared/state/records';
import { EXIT, UsageError, parseOssUrl, printTable, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';
import { storeFor } from '../importer-settings';
import { listImporterImages, type ImporterImage } from './images';
import { parseDuration } from './status';

interface PruneOptions extends GlobalOptions {
  keep?: string;
  olderThan?: string;
  dryRun?: boolean;
}

/**
 * Which images to delete: per key, the images of earlier versions beyond the newest `keep`, or
 * made longer ago than `olderThan`. Never the image of the version the object holds now, never
 * one that is not available or superseded (importing, failed, already deleted). Pure.
 */
export function prunePlan(images: ImporterImage[], rule: { keep?: number; olderThanMs?: number }, now: number): ImporterImage[] {
  const byKey = new Map<string, ImporterImage[]>();
  for (const i of images) byKey.set(i.key, [...(byKey.get(i.key) ?? []), i]);
  const plan: ImporterImage[] = [];
  for (const list of byKey.values()) {
    const older = list
      .filter((i) => !i.current && (i.state === 'available' || i.state === 'superseded'))
      .sort((a, b) => (b.importedAt ?? '').localeCompare(a.importedAt ?? ''));
    older.forEach((i, n) => {
      const tooMany = rule.keep !== undefined && n >= rule.keep;
      const tooOld = rule.olderThanMs !== undefined && Date.parse(i.importedAt ?? '') < now - rule.olderThanMs;
      if (tooMany || tooOld) plan.push(i);
    });
  }
  return plan;
}

export function registerPrune(program: Command): void {
  withGlobalOptions(
    program
      .command('prune <url>')
      .description("delete the ENS images of keys' earlier versions under oss://bucket/prefix (never a current version's); the plan first")
      .option('--keep <n>', "keep the newest n earlier versions' images per key")
      .option('--older-than <duration>', 'delete earlier versions’ images made longer ago than this (e.g. 30d)')
      .option('--dry-run', 'show the plan, delete nothing'),
  ).action(async (url: string, opts: PruneOptions) => {
    const keep = opts.keep === undefined ? undefined : Number(opts.keep);
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 0))
      throw new UsageError(`--keep takes a whole number, not "${opts.keep}"`);
    if (keep === undefined && !opts.olderThan) throw new UsageError('give --keep N or --older-than D (or both)');
    const { bucket, key: prefix } = parseOssUrl(url);
    const store = await storeFor(opts, bucket);
    const images = await listImporterImages(store, opts.statePrefix, prefix);
    const plan = prunePlan(images, { keep, olderThanMs: opts.olderThan ? parseDuration(opts.olderThan) : undefined }, Date.now());
    const done = opts.dryRun ? [] : await deleteAll(store, opts, plan);
    if (opts.json) console.log(JSON.stringify({ bucket, prefix, dryRun: Boolean(opts.dryRun), plan, deleted: done }, null, 2));
    else {
      printTable([
        ['IMAGE ID', 'KEY', 'VERSION', 'STATE', 'IMPORTED'],
        ...plan.map((i) => [i.imageId, i.key, i.etag.slice(0, 8), i.state, i.importedAt ?? '-']),
      ]);
      console.log(`\n${plan.length} image(s) ${opts.dryRun ? 'would be deleted (dry run)' : `planned, ${done.length} deleted`}`);
    }
    process.exitCode = EXIT.ok;
  });
}

/** DeleteImage each planned image, and say so on its record (the record proves the image is ours). */
async function deleteAll(store: ObjectStore, opts: PruneOptions, plan: ImporterImage[]): Promise<string[]> {
  const ens = createEnsApi(opts.ensEndpoint, await resolveCredentials());
  const layout = stateLayout(opts.statePrefix);
  const deleted: string[] = [];
  for (const i of plan) {
    const claimKey = layout.claimKey(store.bucket, i.key, i.etag);
    const record = parseRecord(await store.getText(claimKey));
    if (record?.imageId !== i.imageId) continue;
    await ens.deleteImage(i.imageId, 30_000);
    const at = new Date().toISOString();
    const note = 'image deleted by ens-importer prune';
    const state = record.state === 'superseded' ? 'superseded' : 'deleted';
    await store.putText(
      claimKey,
      encodeRecord({
        ...record,
        state,
        imageDeletion: { state: 'deleted', attempts: 1, at, reason: note },
        history: withHistory(record, state, at, note),
      }),
    );
    deleted.push(i.imageId);
  }
  return deleted;
}
