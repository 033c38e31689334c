import { MAX_OVF_BYTES, parseOvf } from './ovf';
import { ConvertRefusal, type RandomAccess } from './refusal';
import { tarIndex, type TarEntry } from './tar-index';

/**
 * An OVA's disks in the order its OVF attaches them (system disk first), each found in the
 * archive: the tar indexed, exactly one bounded descriptor read, every named file present.
 */
export async function ovaDisks(source: RandomAccess): Promise<{ href: string; entry: TarEntry }[]> {
  const entries = await tarIndex(source);
  const ovfs = entries.filter((e) => e.name.toLowerCase().endsWith('.ovf'));
  if (ovfs.length !== 1)
    throw new ConvertRefusal('ova-ovf-missing', `the archive holds ${ovfs.length} .ovf descriptors; an OVA has exactly one`);
  if (ovfs[0]!.size > MAX_OVF_BYTES)
    throw new ConvertRefusal('ova-ovf-invalid', `the descriptor is ${ovfs[0]!.size} bytes; at most ${MAX_OVF_BYTES}`);
  const ovf = parseOvf((await source.read(ovfs[0]!.offset, ovfs[0]!.size)).toString('utf8'));
  return ovf.map((d) => {
    const entry = entries.find((e) => e.name === d.href || e.name === d.href.replace(/^\.\//, ''));
    if (!entry) throw new ConvertRefusal('ova-disk-missing', `the OVF names ${d.href} (disk ${d.diskId}), which the archive does not hold`);
    return { href: d.href, entry };
  });
}
