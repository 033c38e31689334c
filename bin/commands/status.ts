import type { Command } from 'commander';
import type { ObjectStore } from '../../shared/adapters/oss';
import { TAG_IMAGE_ID, TAG_STATUS, TAG_ERROR } from '../../shared/core/tags';
import { EXIT, age, parseOssUrl, printTable, storeFor, withGlobalOptions, type GlobalOptions } from '../settings';

export interface ObjectState {
  key: string;
  size: number;
  lastModified: string;
  etag: string;
  status: string;
  imageId?: string;
  error?: string;
}

/** Every .qcow2 object under a prefix with the importer's tags (ListObjectsV2, paged). */
export async function listImageObjects(store: ObjectStore, prefix: string, statePrefix: string, concurrency = 16): Promise<ObjectState[]> {
  const objects: { key: string; size: number; lastModified: string; etag: string }[] = [];
  let token: string | undefined;
  do {
    const page = await store.listPage(prefix, token);
    objects.push(...page.objects.filter((o) => o.key.endsWith('.qcow2') && !o.key.startsWith(statePrefix)));
    token = page.nextToken;
  } while (token);
  const states: ObjectState[] = new Array(objects.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, objects.length) }, async () => {
      while (next < objects.length) {
        const i = next++;
        const o = objects[i]!;
        const tags = (await store.getTags(o.key)) ?? {};
        states[i] = {
          ...o,
          status: tags[TAG_STATUS] ?? (tags[TAG_IMAGE_ID] ? 'importing' : 'not-imported'),
          imageId: tags[TAG_IMAGE_ID],
          error: tags[TAG_ERROR],
        };
      }
    }),
  );
  return states;
}

export function registerStatus(program: Command): void {
  withGlobalOptions(
    program
      .command('status <prefix>')
      .description('each .qcow2 object under oss://bucket/prefix with its status, ImageId and age, and the counts per status'),
  ).action(async (url: string, opts: GlobalOptions) => {
    const { bucket, key: prefix } = parseOssUrl(url);
    const store = await storeFor(opts, bucket);
    const states = await listImageObjects(store, prefix, opts.statePrefix);
    const counts: Record<string, number> = {};
    for (const s of states) counts[s.status] = (counts[s.status] ?? 0) + 1;
    if (opts.json) {
      console.log(JSON.stringify({ bucket, prefix, total: states.length, counts, objects: states }, null, 2));
    } else {
      printTable([
        ['KEY', 'STATUS', 'IMAGE ID', 'ERROR', 'AGE'],
        ...states.map((s) => [s.key, s.status, s.imageId ?? '', s.error ?? '', age(s.lastModified)]),
      ]);
      console.log(
        `\n${states.length} objects: ${
          Object.entries(counts)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || 'none'
        }`,
      );
    }
    process.exitCode = EXIT.ok;
  });
}
