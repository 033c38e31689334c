/**
 * What FC's on-failure destination hands a function when an asynchronous invocation has
 * spent its retries: the invocation record, modelled on FC's result-callback documentation
 * (`requestContext`, `requestPayload`, `responsePayload`). The payloads may arrive as JSON
 * strings or as objects, so both are taken; a bare event (a replay by hand) is taken too.
 */

export interface FailedInvocation {
  /** the original event, as the failed function received it */
  payload: unknown;
  /** the last error the failed function reported */
  lastError: string;
  /** invocations FC made, when it says */
  attempts?: number;
  condition?: string;
  requestId?: string;
}

const MAX_ERROR_CHARS = 2048;

function maybeJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function errorText(response: unknown): string {
  const r = maybeJson(response);
  if (r && typeof r === 'object') {
    const o = r as { errorMessage?: unknown; errorType?: unknown; message?: unknown };
    const text = o.errorMessage ?? o.message;
    if (text !== undefined) return String(text).slice(0, MAX_ERROR_CHARS);
  }
  return r === undefined || r === null || r === '' ? 'FC gave up on the event' : String(r).slice(0, MAX_ERROR_CHARS);
}

export function parseFailedInvocation(raw: unknown): FailedInvocation {
  const body = maybeJson(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw);
  if (!body || typeof body !== 'object' || !('requestPayload' in body)) return { payload: body, lastError: 'FC gave up on the event' };
  const b = body as { requestPayload?: unknown; responsePayload?: unknown; requestContext?: Record<string, unknown> };
  const ctx = b.requestContext ?? {};
  const attempts = Number(ctx.approximateInvokeCount);
  return {
    payload: maybeJson(b.requestPayload),
    lastError: errorText(b.responsePayload),
    ...(Number.isFinite(attempts) && attempts > 0 ? { attempts } : {}),
    ...(typeof ctx.condition === 'string' ? { condition: ctx.condition } : {}),
    ...(typeof ctx.requestId === 'string' ? { requestId: ctx.requestId } : {}),
  };
}

/** The error code the failed attempts left: the object's `ens:error` tag, else the message's `(Code)`. */
export function failureCode(tagged: string | undefined, lastError: string): string {
  if (tagged) return tagged;
  const m = /\(([A-Za-z][\w.-]{1,63})(?:, [^)]*)?\)/.exec(lastError);
  return m ? m[1]! : 'retries-exhausted';
}
