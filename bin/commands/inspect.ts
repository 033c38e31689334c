import type { Command } from 'commander';
import { open } from 'node:fs/promises';
import { createObjectStore } from '../../shared/adapters/oss';
import { inspectionLimits } from '../../shared/plan';
import { inspectQcow2, summarizeInspection } from '../../shared/qcow2';
import { EXIT, loadRulesFile, parseOssUrl, resolveCredentials, withGlobalOptions, type GlobalOptions } from '../settings';

const HEADER_BYTES = 64 * 1024;

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
    let head: { bytes: Buffer; size: number };
    if (source.startsWith('oss://')) {
      const { bucket, key } = parseOssUrl(source);
      const store = createObjectStore({ region: opts.region, bucket, endpoint: opts.ossEndpoint, credentials: await resolveCredentials() });
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
      console.log(JSON.stringify({ source, size: head.size, safe, ...summarizeInspection(inspection), refusals: inspection.refusals }, null, 2));
    } else {
      console.log(source);
      const rows: [string, string][] = [
        ['format', r.format],
        ['object size', `${head.size} bytes`],
        ['version', String(r.version ?? '-')],
        ['virtual size', r.virtualSize !== undefined ? `${r.virtualSize} bytes (${(Number(r.virtualSize) / 1024 ** 3).toFixed(2)} GiB)` : '-'],
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
