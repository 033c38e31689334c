import { XMLParser } from 'fast-xml-parser';

export const escapeXml = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

type XmlValue = string | number | boolean | XmlNode | XmlValue[] | undefined;
interface XmlNode {
  [name: string]: XmlValue;
}

/** Serialise a plain object as OSS does: element per key, arrays as repeated elements. */
export function toXml(root: string, body: XmlNode): string {
  const render = (name: string, value: XmlValue): string => {
    if (value === undefined) return '';
    if (Array.isArray(value)) return value.map((v) => render(name, v)).join('');
    if (typeof value === 'object') {
      return `<${name}>${Object.entries(value)
        .map(([k, v]) => render(k, v))
        .join('')}</${name}>`;
    }
    return `<${name}>${escapeXml(String(value))}</${name}>`;
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${render(root, body)}`;
}

const parser = new XMLParser({ parseTagValue: false, trimValues: false, isArray: (name) => name === 'Tag' || name === 'Part' });

export function parseXml(text: string): Record<string, unknown> {
  return parser.parse(text) as Record<string, unknown>;
}
