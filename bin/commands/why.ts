import type { Command } from 'commander';
import { describeCode } from '../../shared/core/codes';
import { EXIT, parseOssUrl, printTable, withGlobalOptions, type GlobalOptions } from '../settings';
import { importerConfig, storeFor } from '../importer-settings';
import { stateLayout } from '../../shared/state/layout';
import { readKeyHistory, type KeyVersion } from '../story/key-history';
import { readObjectStory, slsQueryFor, type ObjectStory } from '../story/object-story';

export function registerWhy(program: Command): void {
  withGlobalOptions(
    program
      .command('why <url>')
      .description(
        'what happened to oss://bucket/key: its tags, its import record (every attempt, each parameter and where it came from), the inspection verdict, and the SLS query for its log lines',
      ),
  ).action(async (url: string, opts: GlobalOptions) => {
    const { bucket, key } = parseOssUrl(url);
    const store = await storeFor(opts, bucket);
    const story = await readObjectStory(store, opts.region, key, importerConfig(opts));
    const versions = await readKeyHistory(store, stateLayout(opts.statePrefix), key);
    const sls = slsQueryFor(key);
    const remedy = story.error ? describeCode(story.error)?.remedy : undefined;
    if (opts.json) console.log(JSON.stringify({ ...story, ...(remedy ? { remedy } : {}), versions, sls }, null, 2));
    else {
      printStory(story, sls);
      printVersions(versions, story);
    }
    // a deleted key with a history is a story told; a key nothing ever happened to is not found
    process.exitCode = story.exists || versions.length ? EXIT.ok : EXIT.error;
  });
}

function printStory(s: ObjectStory, sls: { logstore: string; query: string }): void {
  const out = (line = '') => console.log(line);
  if (!s.exists) {
    out(`oss://${s.bucket}/${s.key}: no such object now (deleted, or the key is spelt differently)`);
    return;
  }
  out(`oss://${s.bucket}/${s.key}`);
  out(`  status: ${s.status}${s.imageId ? `  image: ${s.imageId}` : ''}${s.error ? `  error: ${s.error}` : ''}`);
  const entry = s.error ? describeCode(s.error) : undefined;
  if (entry) out(`  what to do: ${entry.remedy}`);
  out(`  etag ${s.etag}, ${s.size} bytes, modified ${s.lastModified ?? '?'}`);
  const tags = Object.entries(s.tags ?? {});
  out(`  tags: ${tags.length ? tags.map(([k, v]) => `${k}=${v}`).join(', ') : 'none'}`);
  const r = s.record;
  if (r) {
    out(`\nimport record (attempt ${r.attempt ?? 1}): ${r.state}${r.errorCode ? ` (${r.errorCode})` : ''}`);
    if (r.reason) out(`  reason: ${r.reason}`);
    if (r.supersededBy) out(`  superseded by ${r.supersededBy.imageId} (ETag ${r.supersededBy.etag})`);
    const d = r.imageDeletion;
    if (d)
      out(
        `  image deletion: ${d.state}${d.code ? ` (${d.code})` : ''}, ${d.attempts} attempt(s)${d.nextAt ? `, next ${d.nextAt}` : ''}${d.reason ? `: ${d.reason}` : ''}`,
      );
    for (const h of r.history ?? []) out(`  ${h.at}  ${h.state}${h.note ? `  ${h.note}` : ''}`);
    const params = Object.entries((r.params ?? {}) as Record<string, { value: string; source: string; original?: string }>);
    if (params.length)
      printTable([
        ['PARAMETER', 'VALUE', 'SOURCE'],
        ...params.map(([name, v]) => [`  ${name}`, v.value, v.original ? `${v.source} (was "${v.original}")` : v.source]),
      ]);
  } else if (!s.conversion) out('\nimport record: none (the function has not finished this version)');
  if (s.convertedFrom) out(`\nconverted from: oss://${s.bucket}/${s.convertedFrom.key} (ETag ${s.convertedFrom.etag})`);
  const c = s.conversion;
  if (c) {
    const outputs = c.outputs ?? [c.outputKey];
    out(
      `\nconversion record (attempt ${c.attempt}): ${c.state}${c.errorCode ? ` (${c.errorCode})` : ''} → ${outputs.map((k) => `oss://${s.bucket}/${k}`).join(', ')}`,
    );
    if (c.reason) out(`  reason: ${c.reason}`);
    for (const h of c.history) out(`  ${h.at}  ${h.state}${h.note ? `  ${h.note}` : ''}`);
    const o = s.output;
    if (o) {
      out(`  its import: ${o.status}${o.imageId ? ` ${o.imageId}` : ''}${o.error ? ` (${o.error})` : ''}`);
      out(`  the image's story: ens-importer why oss://${s.bucket}/${o.key}`);
    }
  }
  const v = s.verdict;
  if (v) {
    out(`\nverdict now: ${v.verdict}${v.rule ? ` (rule "${v.rule}")` : ''}`);
    for (const p of v.problems ?? []) out(`  ${p.code}: ${p.message}`);
  }
  out(`\nlog lines (SLS ${sls.logstore}):\n  ${sls.query}`);
}

/** Every version of the key the importer handled, oldest first (it outlives the object). */
function printVersions(versions: KeyVersion[], s: ObjectStory): void {
  if (!versions.length) return;
  console.log(`\nversions of this key (${versions.length}, oldest first):`);
  printTable([
    ['  CLAIMED', 'JOB', 'ETAG', 'STATE', 'IMAGE', 'ERROR'],
    ...versions.map((v) => [
      `  ${v.claimedAt}`,
      v.job,
      `${v.etag}${v.etag === s.etag ? ' (now)' : ''}`,
      v.imageDeletion ? `${v.state} (image ${v.imageDeletion})` : v.state,
      v.imageId ?? '-',
      v.errorCode ?? '-',
    ]),
  ]);
}
