import type { ObjectStore } from '../adapters/object-store';
import { parseConversion, type ConversionRecord } from './conversion-record';
import type { StateLayout } from './layout';
import { parseRecord, type ImportRecord } from './records';

/**
 * The versions of one key that the import claimed, from the key's history under `keys/`: each
 * with its record's key and the record, which proves the version (and its image) is this key's.
 * One reader for every path that needs a key's past: superseding, deleting with the object, the
 * name check and `why`. A released claim leaves an entry without a record: skipped.
 */
export interface KeyVersion<R> {
  recordKey: string;
  record: R;
}

type Retry = <T>(call: () => Promise<T>) => Promise<T>;
const once: Retry = (call) => call();

export async function importVersionsOf(
  store: ObjectStore,
  layout: StateLayout,
  bucket: string,
  key: string,
  retry: Retry = once,
  /** a record the caller already holds: not read again */
  except?: string,
): Promise<KeyVersion<ImportRecord>[]> {
  return (await versionsOf(store, layout, bucket, key, retry, (e) => e.job === 'import' && e.recordKey !== except)).flatMap((v) =>
    v.job === 'import' ? [v] : [],
  );
}

/** Every version any job claimed, import and conversion records alike. */
export async function versionsOf(
  store: ObjectStore,
  layout: StateLayout,
  bucket: string,
  key: string,
  retry: Retry = once,
  wanted: (entry: { job: 'import' | 'conversion'; recordKey: string }) => boolean = () => true,
): Promise<(({ job: 'import' } & KeyVersion<ImportRecord>) | ({ job: 'conversion' } & KeyVersion<ConversionRecord>))[]> {
  const versions: (({ job: 'import' } & KeyVersion<ImportRecord>) | ({ job: 'conversion' } & KeyVersion<ConversionRecord>))[] = [];
  const entries: string[] = [];
  let token: string | undefined;
  do {
    const page = await retry(() => store.listPage(layout.keyVersionsPrefix(bucket, key), token));
    entries.push(...page.objects.map((o) => o.key));
    token = page.nextToken;
  } while (token);
  for (const name of entries) {
    const entry = layout.parseKeyVersion(name);
    if (!entry || !wanted(entry)) continue;
    const text = await retry(() => store.getText(entry.recordKey));
    if (entry.job === 'import') {
      const record = parseRecord(text);
      if (record?.key === key) versions.push({ job: 'import', recordKey: entry.recordKey, record });
    } else {
      const record = parseConversion(text);
      if (record?.key === key) versions.push({ job: 'conversion', recordKey: entry.recordKey, record });
    }
  }
  return versions;
}
