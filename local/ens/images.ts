import { randomBytes } from 'node:crypto';

export const IN_PROGRESS = ['Creating', 'Packing', 'Uploading', 'Copying'] as const;
// The tracker keeps its own list (shared/track/ens-status.ts FAILED): an emulator must not share code with what it checks.
export const TERMINAL_FAILURES = ['Pack_failed', 'Upload_failed', 'Unavailable'] as const;
export type ImageStatus = (typeof IN_PROGRESS)[number] | 'Available' | (typeof TERMINAL_FAILURES)[number];

/** A clock the tests move by hand, so an import's progress is deterministic. */
export class ManualClock {
  private offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface ImageSchedule {
  /** ms after creation at which each stage starts; Available at `availableAfterMs`. */
  packingAfterMs: number;
  uploadingAfterMs: number;
  availableAfterMs: number;
}

export const DEFAULT_SCHEDULE: ImageSchedule = {
  packingAfterMs: 60_000,
  uploadingAfterMs: 180_000,
  availableAfterMs: 300_000,
};

export interface StoredImage {
  imageId: string;
  imageName: string;
  computeType: string;
  osType: string;
  platform?: string;
  osVersion?: string;
  architecture: string;
  createdAt: number;
  /** the import's parameters as received */
  params: Record<string, string>;
  /** A failure the test scheduled: the status it ends in and when (clock time). */
  failure?: { status: (typeof TERMINAL_FAILURES)[number]; atMs: number };
  deleted?: boolean;
  /** an instance runs from it: DeleteImage refuses */
  inUse?: boolean;
  /** a larger image takes longer: every stage of its schedule starts this much later */
  slowerByMs?: number;
}

export function newImageId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `m-${[...randomBytes(25)].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

export function statusAt(image: StoredImage, now: number, schedule: ImageSchedule): ImageStatus {
  const age = now - image.createdAt - (image.slowerByMs ?? 0);
  if (image.failure && now >= image.failure.atMs) return image.failure.status;
  if (age >= schedule.availableAfterMs) return 'Available';
  if (age >= schedule.uploadingAfterMs) return 'Uploading';
  if (age >= schedule.packingAfterMs) return 'Packing';
  return 'Creating';
}
