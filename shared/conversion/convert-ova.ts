import type { ObjectHead } from '../adapters/object-store';
import { outputKeyFor, outputMeta } from '../core/conversion';
import { MANIFEST_SUFFIX } from '../core/manifest';
import { decodeMetaValue } from '../core/metadata';
import { META_KEY, PARAM_FIELDS } from '../core/param-fields';
import { convertibleFormat, detectSource, openDiskSource } from '../formats/registry';
import { ovaDisks } from '../formats/ova-reader';
import { ConvertRefusal, type RandomAccess } from '../formats/refusal';
import { memberSource } from '../formats/tar-index';
import type { ConversionSession } from './conversion-session';
import { convertBody, outputState, type OpenUpload } from './convert-body';
import type { ConvertDeps, Converted } from './deps';

/**
 * An OVA (a tar of an OVF descriptor and its disks): one disk becomes `<name>.qcow2`; several
 * become `<name>-disk<n>.qcow2` (marked `ens-import: manifest`) and a manifest
 * `<name>.ens-image.json` listing them in the order the OVF attaches them, system disk first,
 * written last so the import finds every disk there.
 */
export async function convertOva(
  head: ObjectHead,
  source: RandomAccess,
  session: ConversionSession,
  deps: ConvertDeps,
  open: OpenUpload,
): Promise<Converted> {
  const { key, etag } = session.record;
  const disks = await ovaDisks(source);
  const single = disks.length === 1;
  const diskKeys = single
    ? [session.record.outputKey]
    : disks.map((_, i) => outputKeyFor(`${key.replace(/\.[^./]+$/, '')}-disk${i + 1}.ova`, deps.config.outputTemplate));
  const manifestKey = single ? undefined : session.record.outputKey.replace(/\.qcow2$/, MANIFEST_SUFFIX);
  await session.noteOutputs(manifestKey ? [...diskKeys, manifestKey] : diskKeys);
  let virtualSize = 0;
  let outputBytes = 0;
  let parts = 0;
  let replaced = false;
  for (const [i, disk] of disks.entries()) {
    const diskKey = diskKeys[i]!;
    const existing = await outputState(deps, diskKey, key, etag);
    if (existing.kind === 'this-version') continue; // written by an attempt that ended before recording it
    if (existing.kind === 'foreign')
      throw new ConvertRefusal('convert-output-exists', `${diskKey} already exists and was not made from this upload`);
    replaced ||= existing.kind === 'earlier-version';
    const member = memberSource(source, disk.entry);
    const format = convertibleFormat(await detectSource(disk.entry.name, member), disk.entry.name);
    const image = await openDiskSource(format, member, deps.config.maxVirtualBytes);
    const meta = single ? outputMeta(head.meta, key, etag) : outputMeta({}, key, etag, { 'ens-import': 'manifest' });
    const body = await convertBody(image, session, deps, open, { key: diskKey, meta, replace: existing.kind === 'earlier-version' });
    virtualSize += image.virtualSize;
    outputBytes += body.outputBytes;
    parts += body.parts;
  }
  if (manifestKey) await writeManifest(manifestKey, diskKeys, { key, etag, head }, deps, replaced);
  const outputEtag = (await deps.store.head(manifestKey ?? diskKeys[0]!))?.etag ?? '';
  await session.converted({ outputEtag, format: 'ova', virtualSize, outputBytes, note: `${disks.length} disk(s)` });
  return {
    format: 'ova',
    outputKey: session.record.outputKey,
    outputEtag,
    virtualSize,
    outputBytes,
    parts,
    sourceRequests: 0,
    disks: diskKeys,
  };
}

/** The manifest, created once: one already there is ours when it says the same, else refused. */
async function writeManifest(
  manifestKey: string,
  diskKeys: string[],
  source: { key: string; etag: string; head: ObjectHead },
  deps: ConvertDeps,
  replace: boolean,
): Promise<void> {
  const { head } = source;
  const dir = manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1);
  const manifest: Record<string, unknown> = { disks: diskKeys.map((k) => (k.startsWith(dir) ? `./${k.slice(dir.length)}` : k)) };
  // each package version writes a manifest of its own: a corrected upload with the same layout
  // is a new manifest version (new bytes, a new event, a new claim), imported again
  manifest.madeFrom = { key: source.key, etag: source.etag };
  for (const field of PARAM_FIELDS) {
    const raw = head.meta[META_KEY[field]];
    if (raw !== undefined) manifest[field] = decodeMetaValue(raw);
  }
  const body = `${JSON.stringify(manifest, null, 2)}\n`;
  if (await deps.store.createIfAbsent(manifestKey, body)) return;
  const current = await deps.store.getText(manifestKey);
  // an earlier version of this package wrote it: the corrected upload's manifest replaces it
  if (current !== body && replace) return deps.store.putText(manifestKey, body);
  if (current !== body)
    throw new ConvertRefusal('convert-output-exists', `${manifestKey} already exists and is not this package's manifest`);
}
