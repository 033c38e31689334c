/** ENS ImageName rules (stricter than ECS: no period). */

export function imageNameProblem(name: string): string | undefined {
  if (/^https?:\/\//i.test(name)) return 'must not start with http:// or https://';
  const length = [...name].length;
  if (length < 2 || length > 128) return `must be 2-128 characters long (is ${length})`;
  if (!/^[\p{L}\p{Script=Han}]/u.test(name)) return 'must start with a letter or a Chinese character';
  const bad = [...name].find((c) => !/[\p{L}\p{Script=Han}0-9:_-]/u.test(c));
  if (bad !== undefined) return `must contain only letters, Chinese characters, digits, ":", "_" and "-" (found "${bad}")`;
  return undefined;
}

/**
 * Make a name taken from an object key valid for ENS: disallowed characters (such as
 * `.`) become `-`, runs of `-` collapse, a leading non-letter gets an `img-` prefix,
 * and the result is cut to 128 characters.
 */
export function makeValidImageName(raw: string): string {
  let name = [...raw.normalize('NFC')]
    .map((c) => (/[\p{L}\p{Script=Han}0-9:_-]/u.test(c) ? c : '-'))
    .join('')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[\p{L}\p{Script=Han}]/u.test(name)) name = `img-${name}`.replace(/-+$/, '');
  if ([...name].length < 2) name = `${name}-image`;
  name = [...name].slice(0, 128).join('');
  return name;
}
