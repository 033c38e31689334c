import type { ObjectResult } from '../shared/core/outcome';

/** The CLI's exit code for an import's outcome (README: 0 ok, 3 refused, 4 skipped, 5 failed). */
export const EXIT_FOR_OUTCOME: Record<ObjectResult['outcome'], number> = { imported: 0, duplicate: 0, skipped: 4, rejected: 3, failed: 5 };
