import { createHmac } from 'node:crypto';

/**
 * How DingTalk and Lark custom robots take a message (cloud-facts: DingTalk custom robot,
 * Lark / Feishu bot): the signature each documents, and what their answer means. A robot
 * refuses with HTTP 200 and a non-zero code, so the status alone says nothing.
 */

export type RobotFormat = 'json' | 'dingtalk' | 'lark';

/** The request to send: DingTalk signs in the URL's query, Lark in the body. */
export function signedRequest(format: RobotFormat, url: string, body: string, secret: string | undefined, nowMs: number) {
  if (!secret || format === 'json') return { url, body };
  if (format === 'dingtalk') {
    const timestamp = String(nowMs);
    const sign = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
    const signed = new URL(url);
    signed.searchParams.set('timestamp', timestamp);
    signed.searchParams.set('sign', sign);
    return { url: signed.toString(), body };
  }
  const timestamp = String(Math.floor(nowMs / 1000));
  const sign = createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
  return { url, body: JSON.stringify({ timestamp, sign, ...(JSON.parse(body) as object) }) };
}

export interface RobotAnswer {
  ok: boolean;
  /** the robot's own code when it refused (errcode, code) */
  code?: number;
  message?: string;
  /** the robot throttles this sender: fold what is left into a digest */
  throttled: boolean;
  /** worth another try in this invocation */
  retryable: boolean;
}

/** DingTalk: send too fast (130101, then 10 minutes refused); Lark: frequency limited (11232) */
const THROTTLED: Record<RobotFormat, number[]> = { dingtalk: [130101], lark: [11232], json: [] };
/** DingTalk's "system busy" (-1) is the one refusal a retry may clear */
const TRANSIENT: Record<RobotFormat, number[]> = { dingtalk: [-1], lark: [], json: [] };

export function readRobotAnswer(format: RobotFormat, status: number, text: string): RobotAnswer {
  if (status === 429) return { ok: false, throttled: true, retryable: false, message: 'HTTP 429' };
  if (status < 200 || status >= 300) return { ok: false, throttled: false, retryable: status >= 500, message: `HTTP ${status}` };
  if (format === 'json') return { ok: true, throttled: false, retryable: false };
  let reply: { errcode?: unknown; errmsg?: unknown; code?: unknown; msg?: unknown; StatusCode?: unknown };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch {
    return { ok: false, throttled: false, retryable: true, message: 'the robot answered something that is not JSON' };
  }
  const code = Number(format === 'dingtalk' ? reply.errcode : (reply.code ?? reply.StatusCode));
  if (code === 0) return { ok: true, throttled: false, retryable: false };
  const message = String((format === 'dingtalk' ? reply.errmsg : reply.msg) ?? '').slice(0, 200);
  return {
    ok: false,
    code: Number.isFinite(code) ? code : undefined,
    message,
    throttled: THROTTLED[format].includes(code),
    retryable: TRANSIENT[format].includes(code),
  };
}

/** The messages a robot takes a minute (cloud-facts): past them, notices wait for a digest. */
export const ROBOT_PER_MINUTE: Record<RobotFormat, number> = { dingtalk: 20, lark: 100, json: 600 };
