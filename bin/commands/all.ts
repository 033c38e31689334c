import type { Command } from 'commander';
import { registerBackfill } from './backfill';
import { registerConvert } from './convert';
import { registerDoctor } from './doctor';
import { registerImages } from './images';
import { registerImport } from './import';
import { registerInspect } from './inspect';
import { registerPlan } from './plan';
import { registerPrune } from './prune';
import { registerRetry } from './retry';
import { registerStatus } from './status';
import { registerWhy } from './why';

/** Every command, in the order help lists them (loaded together only for help or an unknown name). */
export const ALL_COMMANDS: Record<string, (p: Command) => void> = {
  plan: registerPlan,
  inspect: registerInspect,
  import: registerImport,
  backfill: registerBackfill,
  status: registerStatus,
  why: registerWhy,
  images: registerImages,
  prune: registerPrune,
  retry: registerRetry,
  doctor: registerDoctor,
  convert: registerConvert,
};
