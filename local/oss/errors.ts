/** An OSS error answer: the HTTP status, the XML Code and Message, and extra fields. */
export class OssError extends Error {
  override name = 'OssError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}
