import { XMLParser } from 'fast-xml-parser';
import { ConvertRefusal } from './refusal';

/**
 * The disks an OVF descriptor names, in the order the virtual machine attaches them: the
 * disk drives of its hardware section as listed (the system disk first), then any disk the
 * hardware does not attach. Each disk is a file of the package (`References/File`).
 */

export interface OvfDisk {
  diskId: string;
  /** the file in the archive */
  href: string;
  /** bytes the descriptor says the guest holds, if it says */
  capacity?: number;
}

export const MAX_OVF_BYTES = 1 << 20;
export const MAX_OVA_DISKS = 16;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  // no entity expansion: a descriptor cannot grow itself (billion laughs) or reach outside
  processEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  maxNestedTags: 64,
  isArray: (name) => ['File', 'Disk', 'Item', 'VirtualSystem'].includes(name),
});

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : v && typeof v === 'object' ? [v as Node] : []);
const attr = (n: Node, name: string): string | undefined => (typeof n[`@${name}`] === 'string' ? (n[`@${name}`] as string) : undefined);
const text = (v: unknown): string | undefined =>
  typeof v === 'string'
    ? v
    : v && typeof v === 'object' && typeof (v as Node)['#text'] === 'string'
      ? ((v as Node)['#text'] as string)
      : undefined;

/** OVF capacity in bytes: `capacity` times `capacityAllocationUnits` (`byte * 2^30`), bytes when absent. */
function capacityOf(disk: Node): number | undefined {
  const capacity = Number(attr(disk, 'capacity'));
  if (!Number.isFinite(capacity)) return undefined;
  const unit = /^byte\s*\*\s*2\^(\d+)$/.exec((attr(disk, 'capacityAllocationUnits') ?? 'byte').trim());
  return unit ? capacity * 2 ** Number(unit[1]) : capacity;
}

export function parseOvf(xml: string): OvfDisk[] {
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (err) {
    throw new ConvertRefusal('ova-ovf-invalid', `the OVF descriptor is not well-formed XML: ${(err as Error).message}`);
  }
  if (doc.Envelope === undefined) throw new ConvertRefusal('ova-ovf-invalid', 'the OVF descriptor has no Envelope');
  const envelope = (typeof doc.Envelope === 'object' && doc.Envelope ? doc.Envelope : {}) as Node;
  const files = new Map(list((envelope.References as Node | undefined)?.File).map((f) => [attr(f, 'id'), attr(f, 'href')]));
  for (const f of list((envelope.References as Node | undefined)?.File))
    if (attr(f, 'compression'))
      throw new ConvertRefusal(
        'ova-compressed-disk',
        `file ${attr(f, 'href')} is ${attr(f, 'compression')}-compressed in the package; export it uncompressed`,
      );
  const disks: OvfDisk[] = [];
  for (const d of list((envelope.DiskSection as Node | undefined)?.Disk)) {
    const diskId = attr(d, 'diskId');
    const fileRef = attr(d, 'fileRef');
    if (!diskId || !fileRef) continue; // a blank disk: nothing to convert
    const href = files.get(fileRef);
    if (!href) throw new ConvertRefusal('ova-disk-missing', `disk ${diskId} names file ${fileRef}, which References does not list`);
    disks.push({ diskId, href, capacity: capacityOf(d) });
  }
  if (!disks.length) throw new ConvertRefusal('ova-no-disk', 'the OVF descriptor names no disk with a file');
  if (disks.length > MAX_OVA_DISKS)
    throw new ConvertRefusal('ova-too-many-disks', `the package has ${disks.length} disks; at most ${MAX_OVA_DISKS}`);
  // the hardware's disk drives (ResourceType 17) in order, each `ovf:/disk/<diskId>`
  const attached: string[] = [];
  for (const system of list(envelope.VirtualSystem))
    for (const item of list((system.VirtualHardwareSection as Node | undefined)?.Item)) {
      if (text(item.ResourceType)?.trim() !== '17') continue;
      const m = /^ovf:\/disk\/(.+)$/.exec(text(item.HostResource)?.trim() ?? '');
      if (m && !attached.includes(m[1]!)) attached.push(m[1]!);
    }
  const rank = (d: OvfDisk) => (attached.includes(d.diskId) ? attached.indexOf(d.diskId) : attached.length + disks.indexOf(d));
  return [...disks].sort((a, b) => rank(a) - rank(b));
}
