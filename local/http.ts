import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StartedServer {
  server: http.Server;
  port: number;
  endpoint: string;
  close(): Promise<void>;
}

/** Listen on 127.0.0.1 (port 0 = ephemeral) and track sockets so close() is prompt. */
export async function listen(handler: http.RequestListener, port = 0): Promise<StartedServer> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    endpoint: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The lifecycle every stand-in shares: listen on 127.0.0.1, know its endpoint, close
 * promptly. A subclass answers requests in `handle`.
 */
export abstract class StandInServer {
  private server?: StartedServer;

  protected constructor(private readonly label: string) {}

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  get endpoint(): string {
    if (!this.server) throw new Error(`${this.label} not started`);
    return this.server.endpoint;
  }

  async listenOn(port = 0): Promise<void> {
    this.server = await listen((req, res) => void this.handle(req, res), port);
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}

export async function readBody(req: AsyncIterable<unknown>, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A request id as OSS and ENS give one (24 upper-case hex digits), unique in this process: a
 * random prefix and a counter. Drawing 12 random bytes for every request cost the stand-ins
 * 1.2 s of CPU in the tracker's 10,000-import bench (a V8 profile), time the bench would have
 * put on the tracker.
 */
const ID_PREFIX = randomBytes(6).toString('hex').toUpperCase();
let idCounter = 0;
export function requestId(): string {
  idCounter = (idCounter + 1) % 0x1000000000000;
  return ID_PREFIX + idCounter.toString(16).toUpperCase().padStart(12, '0');
}
