import { DEFAULTS } from '../../shared/runtime/config';
import type { Command } from 'commander';
import { basename, dirname, join } from 'node:path';
import { isManifestKey, parseManifest } from '../../shared/core/manifest';
import { open } from 'node:fs/promises';
import { inspectionLimits } from '../../shared/core/plan';
import { inspectQcow2, summarizeInspection } from '../../shared/core/qcow2';
import { EXIT, parseOssUrl, withGlobalOptions, type GlobalOptions } from '../settings';
import { loadRulesFile, storeFor } from '../importer-settings';

const HEADER_BYTES = DEFAULTS.headerBytes;

async function readLocalHead(path: string): Promise<{ bytes: Buffer; size: number }> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const bytes = Buffer.alloc(Math.min(size, HEADER_BYTES));
    await file.read(bytes, 0, bytes.length, 0);
    return { bytes, size };
  } finally {
    await file.close();
  }
}

export function registerInspect(program: Command): void {
  withGlobalOptions(
    program
      .command('inspect <source>')
      .description('the qcow2 header report and safety verdict of a local file or oss://bucket/key (reads only the first 64 KiB)'),
  ).action(async (source: string, opts: GlobalOptions) => {
    if (isManifestKey(source)) return inspectManifest(source, opts);
    let head: { bytes: Buffer; size: number };
    if (source.startsWith('oss://')) {
      const { bucket, key } = parseOssUrl(source);
      const store = await storeFor(opts, bucket);
      const read = await store.readHead(key, HEADER_BYTES);
      if (!read) throw new Error(`${source} does not exist`);
      head = { bytes: read.bytes, size: read.size };
    } else {
      head = await readLocalHead(source);
    }
    const { rules } = loadRulesFile(opts.rules);
    const inspection = inspectQcow2(head.bytes, head.size, inspectionLimits(rules));
    const r = inspection.report;
    const safe = inspection.refusals.length === 0;
    if (opts.json) {
      console.log(
        JSON.stringify({ source, size: head.size, safe, ...summarizeInspection(inspection), refusals: inspection.refusals }, null, 2),
      );
    } else {
      console.log(source);
      const rows: [string, string][] = [
        ['format', r.format],
        ['object size', `${head.size} bytes`],
        ['version', String(r.version ?? '-')],
        [
          'virtual size',
          r.virtualSize !== undefined ? `${r.virtualSize} bytes (${(Number(r.virtualSize) / 1024 ** 3).toFixed(2)} GiB)` : '-',
        ],
        ['cluster size', r.clusterSize ? `${r.clusterSize} bytes` : '-'],
        ['features', r.features?.length ? r.features.join(', ') : 'none'],
        ['backing file', r.backingFileOffset ? (r.backingFile ?? 'yes') : 'none'],
        ['data file', r.dataFile ?? (r.incompatibleFeatures && r.incompatibleFeatures & 4n ? 'yes' : 'none')],
        ['encryption', r.cryptMethod ? `method ${r.cryptMethod}` : 'none'],
        ['bytes read', String(r.bytesInspected)],
      ];
      for (const [k, v] of rows) console.log(`  ${k.padEnd(13)} ${v}`);
      console.log(safe ? 'verdict: safe to import' : 'verdict: refused');
      for (const f of inspection.refusals) console.log(`  ${f.code}: ${f.message}`);
    }
    process.exitCode = safe ? EXIT.ok : EXIT.refused;
  });
}

/** Read the first bytes of an object in `bucket`, or of a local file when there is no bucket. */
async function headReader(bucket: string | undefined, opts: GlobalOptions) {
  const store = bucket ? await storeFor(opts, bucket) : undefined;
  return async (keyOrPath: string): Promise<{ bytes: Buffer; size: number } | undefined> => {
    if (store) {
      const h = await store.readHead(keyOrPath, HEADER_BYTES);
      return h ? { bytes: h.bytes, size: h.size } : undefined;
    }
    try {
      return await readLocalHead(keyOrPath);
    } catch {
      return undefined;
    }
  };
}

/** Every disk of a manifest: a local manifest names local files beside it (by the disk key's file name). */
async function inspectManifest(source: string, opts: GlobalOptions): Promise<void> {
  const remote = source.startsWith('oss://') ? parseOssUrl(source) : undefined;
  const readHead = await headReader(remote?.bucket, opts);
  const manifestHead = await readHead(remote ? remote.key : source);
  if (!manifestHead) throw new Error(`${source} does not exist`);
  const parsed = parseManifest(manifestHead.bytes.toString('utf8'), remote ? remote.key : basename(source));
  const { rules } = loadRulesFile(opts.rules);
  if (!parsed.ok) {
    if (opts.json)
      console.log(JSON.stringify({ source, safe: false, refusals: [{ code: 'manifest-invalid', message: parsed.reason }] }, null, 2));
    else console.log(`${source}\nverdict: refused\n  manifest-invalid: ${parsed.reason}`);
    process.exitCode = EXIT.refused;
    return;
  }
  const disks = [];
  for (const disk of parsed.manifest.disks) {
    const where = remote ? disk : join(dirname(source), basename(disk));
    const head = await readHead(where);
    if (!head) {
      disks.push({ disk, source: where, safe: false, refusals: [{ code: 'manifest-missing-disk', message: `${where} does not exist` }] });
      continue;
    }
    const inspection = inspectQcow2(head.bytes, head.size, inspectionLimits(rules));
    disks.push({
      disk,
      source: where,
      safe: inspection.refusals.length === 0,
      ...summarizeInspection(inspection),
      refusals: inspection.refusals,
    });
  }
  const safe = disks.every((d) => d.safe);
  if (opts.json) console.log(JSON.stringify({ source, safe, disks }, null, 2));
  else {
    console.log(`${source}: ${disks.length} disk(s)`);
    for (const [i, d] of disks.entries()) {
      const info = d as { version?: number; virtualSize?: number };
      console.log(
        `  ${i + 1}. ${d.disk}  ${d.safe ? 'safe' : 'refused'}${info.version ? `  qcow2 v${info.version}, ${((info.virtualSize ?? 0) / 1024 ** 3).toFixed(2)} GiB` : ''}`,
      );
      for (const r of d.refusals) console.log(`     ${r.code}: ${r.message}`);
    }
    console.log(safe ? 'verdict: safe to import' : 'verdict: refused');
  }
  process.exitCode = safe ? EXIT.ok : EXIT.refused;
}
