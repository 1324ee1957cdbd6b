/**
 * The life of an opt-in HTTP listener of the daemon (the metrics endpoint, the dashboard): off by
 * default, on one address from a flag (`--metrics ADDR`, for this run, winning over the document) or from
 * the desired-state document (`metrics.listen`, applied by a config change, restored at start), moved or
 * stopped when the document changes. An endpoint extends it with its request handler; this owns listen,
 * move and close.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ConfigError } from '../core/errors.js';
import { formatListenAddress, parseListenAddress, type ListenAddress } from './address.js';

export interface OptInListenerOptions {
  /** "metrics", "dashboard": the document key, the flag's name and the log prefix */
  name: string;
  /** the path logged after the address ("/metrics", "/") */
  servedPath: string;
  log?: (msg: string) => void;
  /** the flag's address: in force for the whole run, whatever the document says */
  override?: ListenAddress;
}

export abstract class OptInListener {
  private server: Server | null = null;
  private bound: ListenAddress | null = null;
  private readonly opts: OptInListenerOptions;
  private readonly log: (msg: string) => void;

  constructor(opts: OptInListenerOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
  }

  /** answers one request (the endpoint's own) */
  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;

  /** where it listens now (null: off) */
  get address(): string | null {
    return this.bound ? formatListenAddress(this.bound) : null;
  }

  /** the flag's address, if any (a failure to listen names the flag) */
  async start(): Promise<void> {
    if (this.opts.override) await this.listen(this.opts.override, `--${this.opts.name}`);
  }

  /** the document's setting changed (or was restored): listen there, or stop; with the flag, nothing */
  async applyDocument(cfg: { listen: string } | undefined): Promise<void> {
    const { name, override } = this.opts;
    if (override) {
      if (cfg) this.log(`${name}: --${name} ${formatListenAddress(override)} is in force for this run; ${name}.listen ${cfg.listen} applies to a start without it`);
      return;
    }
    const want = cfg ? parseListenAddress(cfg.listen, `${name}.listen`) : null;
    if (want && this.bound && want.host === this.bound.host && want.port === this.bound.port) return;
    await this.close();
    if (want) await this.listen(want, `${name}.listen`);
  }

  private async listen(a: ListenAddress, field: string): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    // a request is one page or one scrape; a client that keeps a connection open idle does not hold the daemon
    server.keepAliveTimeout = 5_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new ConfigError(field, `cannot listen on ${formatListenAddress(a)}: ${e.code ?? e.message}`)));
      server.listen({ host: a.host, port: a.port, exclusive: true }, () => resolve());
    });
    server.on('error', (e) => this.log(`${this.opts.name}: ${e.message}`));
    this.server = server;
    this.bound = a;
    this.log(`${this.opts.name}: serving http://${formatListenAddress(a)}${this.opts.servedPath}`);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const was = this.bound;
    this.bound = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    if (was) this.log(`${this.opts.name}: stopped listening on ${formatListenAddress(was)}`);
  }
}
