/**
 * ENS ImageName rules (stricter than ECS: no period). "A letter" is an ASCII letter: the
 * Chinese API pages say 大小写字母 (upper- and lower-case letters), so café or сервер are refused.
 */
const FIRST = /^[A-Za-z\p{Script=Han}]/u;
const ALLOWED = /[A-Za-z\p{Script=Han}0-9:_-]/u;

export function imageNameProblem(name: string): string | undefined {
  if (/^https?:\/\//i.test(name)) return 'must not start with http:// or https://';
  const length = [...name].length;
  if (length < 2 || length > 128) return `must be 2-128 characters long (is ${length})`;
  if (!FIRST.test(name)) return 'must start with an ASCII letter or a Chinese character';
  const bad = [...name].find((c) => !ALLOWED.test(c));
  if (bad !== undefined) return `must contain only ASCII letters, Chinese characters, digits, ":", "_" and "-" (found "${bad}")`;
  return undefined;
}

/**
 * Make a name taken from an object key valid for ENS: disallowed characters (such as
 * `.`) become `-`, runs of `-` collapse, a leading non-letter gets an `img-` prefix,
 * and the result is cut to 128 characters.
 */
export function makeValidImageName(raw: string): string {
  let name = [...raw.normalize('NFC')]
    .map((c) => (ALLOWED.test(c) ? c : '-'))
    .join('')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!FIRST.test(name)) name = `img-${name}`.replace(/-+$/, '');
  if ([...name].length < 2) name = `${name}-image`;
  name = [...name].slice(0, 128).join('');
  return name;
}
