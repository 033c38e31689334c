/** An input a reader will not convert, with a stable code (as the qcow2 inspector's refusals have). */
export class ConvertRefusal extends Error {
  override name = 'ConvertRefusal';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Positioned reads of the source (a local file, or ranged GETs of an object). */
export interface RandomAccess {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  /** Fills `target` from `offset` (a local file: no buffer allocated per read); the bytes read. */
  readInto?(target: Buffer, offset: number): Promise<number>;
}
