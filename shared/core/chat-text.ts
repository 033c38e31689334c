/**
 * Text that anyone who can upload chose (keys, reasons, image names), made inert for a chat
 * robot: no control characters, no markdown link or image in DingTalk, no mention in either
 * (`@all`, `<at user_id="all">`). A look-alike replaces what would act, so the operator still
 * reads the key as it is.
 */

// C0 and C1 controls, DEL, and the bidi overrides that reorder what a reader sees
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export const withoutControls = (text: string): string => text.replace(CONTROL, '');

const MARKDOWN = /[\\`*_{}[\]()#+!|>~<]/g;

export function chatSafe(text: string, format: 'dingtalk' | 'lark'): string {
  const plain = withoutControls(text).replace(/@/g, '＠');
  if (format === 'dingtalk') return plain.replace(MARKDOWN, (c) => `\\${c}`);
  return plain.replace(/</g, '＜').replace(/>/g, '＞');
}
