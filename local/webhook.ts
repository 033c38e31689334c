import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, StandInServer } from './http';

/**
 * A chat robot's webhook, as DingTalk and Lark custom robots take one: POST JSON to a URL
 * whose path carries the robot's token, answer 200. The demo shows what ops would get.
 */
export class WebhookReceiver extends StandInServer {
  readonly received: { path: string; body: unknown; at: number }[] = [];
  /** answer this status to the next N posts (a receiver that is down, or throttles) */
  failNext: { status: number; times: number } = { status: 200, times: 0 };
  readonly token = `robot-token-${Math.random().toString(36).slice(2, 10)}`;

  constructor() {
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
    return `${this.endpoint}/robot/send?access_token=${this.token}`;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, 1 << 20);
    if (this.failNext.times > 0) {
      this.failNext.times -= 1;
      res.writeHead(this.failNext.status).end();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400).end('{"errcode":40035,"errmsg":"invalid json"}');
      return;
    }
    this.received.push({ path: req.url ?? '/', body: parsed, at: Date.now() });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"errcode":0,"errmsg":"ok"}');
  }
}
