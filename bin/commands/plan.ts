import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isManifestKey, planManifest } from '../../shared/core/manifest';
import type { Rules } from '../../shared/core/rules';
import { META_KEY } from '../../shared/core/param-fields';
import { decodeUserMeta } from '../../shared/core/metadata';
import { planImport } from '../../shared/core/plan';
import { EXIT, UsageError, parseOssUrl, printTable, withGlobalOptions, type GlobalOptions } from '../settings';
import { importerConfig, loadRulesFile, storeFor } from '../importer-settings';
import { verdictOf } from '../story/object-story';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerPlan(program: Command): void {
  withGlobalOptions(
    program
      .command('plan <key>')
      .description(
        'the ImportImage parameters, where each value comes from, and the verdict: offline for a key (and --meta), or for a real object given as oss://bucket/key (its metadata and qcow2 header are read)',
      )
      .option('--meta <name=value>', `object metadata, repeatable (${Object.values(META_KEY).join(', ')}, ens-import)`, collect, [])
      .option('--bucket <bucket>', 'the bucket the object would be in', 'ens-images')
      .option('--manifest <file>', "for a <name>.ens-image.json key: the manifest's JSON, from a local file"),
  ).action(async (key: string, opts: GlobalOptions & { meta: string[]; bucket: string; manifest?: string }) => {
    if (key.startsWith('oss://')) return planObject(key, opts);
    const raw = metaPairs(opts.meta);
    const { rules, source } = loadRulesFile(opts.rules);
    if (isManifestKey(key)) {
      if (!opts.manifest) throw new UsageError(`${key} is a manifest: give its JSON with --manifest <file>`);
      return planManifestCommand(key, readFileSync(opts.manifest, 'utf8'), decodeUserMeta(raw), rules, source, opts);
    }
    const plan = planImport({ bucket: opts.bucket, region: opts.region, key, meta: decodeUserMeta(raw), rules, rulesSource: source });
    const exitCode = plan.verdict === 'import' ? EXIT.ok : plan.verdict === 'skip' ? EXIT.skipped : EXIT.refused;
    if (opts.json) {
      const body =
        plan.verdict === 'skip'
          ? { key, verdict: plan.verdict, errorCode: plan.errorCode, reason: plan.reason, rule: plan.rule }
          : {
              key,
              verdict: plan.verdict,
              rule: plan.rule,
              params: plan.params,
              provenance: plan.provenance,
              problems: plan.problems,
              nameFixes: plan.derived.nameFixes,
            };
      console.log(JSON.stringify(body, null, 2));
    } else if (plan.verdict === 'skip') {
      console.log(`${key}\n  verdict: skipped (${plan.errorCode}) — ${plan.reason}`);
    } else {
      console.log(`${key}  (rule "${plan.rule}", rules from ${source})`);
      printTable([
        ['PARAMETER', 'VALUE', 'SOURCE'],
        ...Object.entries(plan.provenance).map(([name, v]) => [name, v.value, v.original ? `${v.source} (was "${v.original}")` : v.source]),
      ]);
      if (plan.verdict === 'import') console.log('verdict: would import (the qcow2 header is checked when the object is read)');
      else {
        console.log('verdict: would be rejected');
        for (const p of plan.problems) console.log(`  ${p.code}: ${p.message}`);
      }
    }
    process.exitCode = exitCode;
  });
}

function planManifestCommand(
  key: string,
  text: string,
  objectMeta: Record<string, string>,
  rules: Rules,
  source: string,
  opts: GlobalOptions & { bucket: string },
): void {
  const plan = planManifest({ bucket: opts.bucket, region: opts.region, key, text, objectMeta, rules, rulesSource: source });
  const exitCode = plan.verdict === 'import' ? EXIT.ok : plan.verdict === 'skip' ? EXIT.skipped : EXIT.refused;
  if (opts.json) console.log(JSON.stringify({ key, ...plan }, null, 2));
  else if (plan.verdict === 'invalid') console.log(`${key}\n  verdict: would be rejected (manifest-invalid): ${plan.reason}`);
  else if (plan.verdict === 'skip') console.log(`${key}\n  verdict: skipped (${plan.errorCode}) — ${plan.reason}`);
  else {
    console.log(`${key}  (multi-disk image, rule "${plan.rule}", rules from ${source})`);
    for (const [i, d] of plan.disks.entries()) console.log(`  disk ${i + 1}${i === 0 ? ' (system)' : ''}: ${d}`);
    printTable([
      ['PARAMETER', 'VALUE', 'SOURCE'],
      ...Object.entries(plan.provenance).map(([name, v]) => [name, v.value, v.original ? `${v.source} (was "${v.original}")` : v.source]),
    ]);
    if (plan.verdict === 'import') console.log('verdict: would import (each disk must exist and pass the qcow2 checks)');
    else {
      console.log('verdict: would be rejected');
      for (const p of plan.problems) console.log(`  ${p.code}: ${p.message}`);
    }
  }
  process.exitCode = exitCode;
}

/** A dry run on a real object: its head and metadata read, nothing written. */
async function planObject(url: string, opts: GlobalOptions): Promise<void> {
  const { bucket, key } = parseOssUrl(url);
  const store = await storeFor(opts, bucket);
  const config = importerConfig(opts, true);
  const head = await store.readHead(key, config.headerBytes);
  if (!head) {
    console.error(`error: oss://${bucket}/${key} does not exist`);
    process.exitCode = EXIT.error;
    return;
  }
  if (isManifestKey(key)) {
    const text = (await store.getText(key)) ?? '';
    return planManifestCommand(key, text, decodeUserMeta(head.meta), config.rules, config.rulesSource, { ...opts, bucket });
  }
  const v = verdictOf(opts.region, bucket, key, head, config)!;
  const exitCode = v.verdict === 'import' ? EXIT.ok : v.verdict === 'skip' ? EXIT.skipped : EXIT.refused;
  if (opts.json) console.log(JSON.stringify({ bucket, key, etag: head.etag, size: head.size, ...v }, null, 2));
  else {
    console.log(`oss://${bucket}/${key}  (${head.size} bytes${v.rule ? `, rule "${v.rule}"` : ''}, rules from ${config.rulesSource})`);
    const params = Object.entries((v.params ?? {}) as Record<string, { value: string; source: string; original?: string }>);
    if (params.length)
      printTable([
        ['PARAMETER', 'VALUE', 'SOURCE'],
        ...params.map(([name, p]) => [name, p.value, p.original ? `${p.source} (was "${p.original}")` : p.source]),
      ]);
    console.log(`verdict: ${v.verdict === 'import' ? 'would import' : v.verdict === 'skip' ? 'skipped' : 'would be rejected'}`);
    for (const p of v.problems ?? []) console.log(`  ${p.code}: ${p.message}`);
  }
  process.exitCode = exitCode;
}

/** `--meta name=value` pairs → user metadata, names lower-cased and without x-oss-meta-. */
function metaPairs(pairs: string[]): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta takes name=value, got "${pair}"`);
    raw[
      pair
        .slice(0, eq)
        .toLowerCase()
        .replace(/^x-oss-meta-/, '')
    ] = pair.slice(eq + 1);
  }
  return raw;
}
