/**
 * Keys, metadata, reasons and tags are chosen by whoever uploads, and the CLI prints them to
 * an operator's terminal: an escape sequence in a key could rewrite the screen, set the window
 * title or hide a line. Every control character but newline and tab, the C1 controls and the
 * bidi overrides are printed as visible escapes (`\x1b`, `\u202e`). JSON output is already
 * escaped by JSON.stringify; this covers the text.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Route the process's standard output through terminalSafe (the progress bar writes to stderr). */
export function neutraliseStdout(): void {
  const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: unknown[]) => boolean;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
    write(typeof chunk === 'string' ? terminalSafe(chunk) : chunk, ...rest)) as typeof process.stdout.write;
}
