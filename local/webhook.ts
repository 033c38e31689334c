import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, StandInServer } from './http';

/**
 * A chat robot's webhook, as DingTalk and Lark custom robots take one (cloud-facts: DingTalk
 * custom robot, Lark / Feishu bot): POST JSON to a URL whose path carries the robot's token.
 * With a secret it verifies the signature as each documents (DingTalk: `timestamp`, `sign` in
 * the query; Lark: in the body), refuses a timestamp more than an hour off, counts messages per
 * minute, and answers as they do: HTTP 200 with a non-zero `errcode` / `code` when it drops one.
 */
export type RobotKind = 'plain' | 'dingtalk' | 'lark';

const LIMIT: Record<RobotKind, number> = { plain: Number.POSITIVE_INFINITY, dingtalk: 20, lark: 100 };

export class WebhookReceiver extends StandInServer {
  readonly received: { path: string; body: unknown; at: number }[] = [];
  /** every refusal it answered, with the robot's code */
  readonly refused: { code: number; reason: string }[] = [];
  /** answer this status to the next N posts (a receiver that is down, or throttles) */
  failNext: { status: number; times: number } = { status: 200, times: 0 };
  readonly token = `robot-token-${Math.random().toString(36).slice(2, 10)}`;
  /** the robot's clock ahead of this machine's (a test skips DingTalk's 10-minute refusal) */
  clockOffsetMs = 0;
  private readonly window: number[] = [];
  private throttledUntil = 0;

  constructor(
    readonly kind: RobotKind = 'plain',
    readonly secret?: string,
  ) {
    super('webhook receiver');
  }

  async start(port = 0): Promise<this> {
    await this.listenOn(port);
    return this;
  }

  stop(): Promise<void> {
    return this.close();
  }

  /** The URL ops would paste into importer.yaml (or IMPORTER_NOTIFY_WEBHOOK): the token is in it. */
  get url(): string {
    return this.kind === 'lark'
      ? `${this.endpoint}/open-apis/bot/v2/hook/${this.token}`
      : `${this.endpoint}/robot/send?access_token=${this.token}`;
  }

  private answer(res: ServerResponse, code: number, message: string): void {
    if (code !== 0) this.refused.push({ code, reason: message });
    const body = this.kind === 'lark' ? { code, data: {}, msg: message } : { errcode: code, errmsg: message };
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req, 1 << 20);
    if (this.failNext.times > 0) {
      this.failNext.times -= 1;
      res.writeHead(this.failNext.status).end();
      return;
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      return this.kind === 'lark' ? this.answer(res, 9499, 'Bad Request') : this.answer(res, 40035, 'invalid json');
    }
    const url = new URL(req.url ?? '/', 'http://robot');
    if (!url.pathname.includes(this.token) && url.searchParams.get('access_token') !== this.token)
      return this.kind === 'lark'
        ? this.answer(res, 19001, 'param invalid: incoming webhook access token invalid')
        : this.answer(res, 300001, 'token is not exist');
    if (this.secret && !this.signatureHolds(url, parsed))
      return this.kind === 'lark'
        ? this.answer(res, 19021, 'sign match fail or timestamp is not within one hour from current time')
        : this.answer(res, 310000, 'sign not match');
    const now = Date.now() + this.clockOffsetMs;
    while (this.window.length && this.window[0]! <= now - 60_000) this.window.shift();
    if (now < this.throttledUntil || this.window.length >= LIMIT[this.kind]) {
      // DingTalk then refuses the robot for 10 minutes
      if (this.kind === 'dingtalk' && now >= this.throttledUntil) this.throttledUntil = now + 600_000;
      return this.kind === 'lark'
        ? this.answer(res, 11232, 'frequency limited')
        : this.answer(res, 130101, 'send too fast, exceed 20 times per minute');
    }
    this.window.push(now);
    this.received.push({ path: req.url ?? '/', body: parsed, at: now });
    if (this.kind === 'lark') return this.answer(res, 0, 'success');
    return this.answer(res, 0, 'ok');
  }

  private signatureHolds(url: URL, body: Record<string, unknown>): boolean {
    const secret = this.secret!;
    const timestamp = String((this.kind === 'lark' ? body.timestamp : url.searchParams.get('timestamp')) ?? '');
    const sign = String((this.kind === 'lark' ? body.sign : url.searchParams.get('sign')) ?? '');
    const ms = this.kind === 'lark' ? Number(timestamp) * 1000 : Number(timestamp);
    if (!timestamp || !Number.isFinite(ms) || Math.abs(Date.now() + this.clockOffsetMs - ms) > 3_600_000) return false;
    const expected =
      this.kind === 'lark'
        ? createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64')
        : createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
    const a = Buffer.from(sign);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
