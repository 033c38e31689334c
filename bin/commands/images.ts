import type { Command } from 'commander';
import { listAll, type ObjectStore } from '../../shared/adapters/object-store';
import { parseRecord, type ImportRecord } from '../../shared/state/records';
import { EXIT, age, parseOssUrl, printTable, withGlobalOptions, type GlobalOptions } from '../settings';
import { storeFor } from '../importer-settings';

/** One image the importer made, from its import record. */
export interface ImporterImage {
  imageId: string;
  imageName?: string;
  key: string;
  etag: string;
  /** the record's state: importing, available, failed, deleted … */
  state: string;
  /** the object holds this version now (an older version's image is the key's past) */
  current: boolean;
  importedAt?: string;
  errorCode?: string;
}

/**
 * Every image the importer made under a prefix, from the import records (ENS images carry no
 * tags: the records are the proof of which key and version made which image).
 */
export async function listImporterImages(store: ObjectStore, statePrefix: string, prefix: string): Promise<ImporterImage[]> {
  const recordKeys: string[] = [];
  for await (const o of listAll(store, `${statePrefix}claims/`))
    if (o.key.endsWith('.json') && !o.key.includes('.unreadable.')) recordKeys.push(o.key);
  const records: ImportRecord[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < recordKeys.length) {
      const r = parseRecord(await store.getText(recordKeys[next++]!));
      if (r?.imageId && r.key.startsWith(prefix) && r.bucket === store.bucket) records.push(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, recordKeys.length) }, worker));
  const currentEtag = new Map<string, string | undefined>();
  for (const key of new Set(records.map((r) => r.key))) currentEtag.set(key, (await store.head(key))?.etag);
  return records
    .map((r) => ({
      imageId: r.imageId!,
      ...(r.imageName ? { imageName: r.imageName } : {}),
      key: r.key,
      etag: r.etag,
      state: r.state,
      current: currentEtag.get(r.key) === r.etag,
      ...(r.importedAt ? { importedAt: r.importedAt } : {}),
      ...(r.errorCode ? { errorCode: r.errorCode } : {}),
    }))
    .sort((a, b) => a.key.localeCompare(b.key) || (a.importedAt ?? '').localeCompare(b.importedAt ?? ''));
}

export function registerImages(program: Command): void {
  withGlobalOptions(
    program
      .command('images <url>')
      .description(
        'every ENS image the importer made for keys under oss://bucket/prefix: ImageId, name, source key and version, state, age',
      ),
  ).action(async (url: string, opts: GlobalOptions) => {
    const { bucket, key: prefix } = parseOssUrl(url);
    const store = await storeFor(opts, bucket);
    const images = await listImporterImages(store, opts.statePrefix, prefix);
    if (opts.json) console.log(JSON.stringify({ bucket, prefix, total: images.length, images }, null, 2));
    else {
      printTable([
        ['IMAGE ID', 'NAME', 'KEY', 'VERSION', 'STATE', 'AGE'],
        ...images.map((i) => [
          i.imageId,
          i.imageName ?? '-',
          i.key,
          `${i.etag.slice(0, 8)}${i.current ? ' (current)' : ' (older)'}`,
          `${i.state}${i.errorCode ? ` (${i.errorCode})` : ''}`,
          i.importedAt ? age(i.importedAt) : '-',
        ]),
      ]);
      console.log(`\n${images.length} images`);
    }
    process.exitCode = EXIT.ok;
  });
}
