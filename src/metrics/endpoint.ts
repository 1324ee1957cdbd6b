/**
 * The metrics endpoint: an HTTP listener on the one address the operator gives (`xvs daemon --metrics
 * 127.0.0.1:9477`, or `metrics.listen` in the config; off by default) that answers `GET /metrics` with the
 * Prometheus text exposition of families.ts, read from the switches' shared counters at that moment.
 *
 * The flag is for this run and wins over the document; the document's setting is applied by the
 * `setMetrics` change of config/desired.ts (so `xvs config apply` moves the listener, and a restart restores it).
 */
import { createServer, type Server } from 'node:http';
import { gzip } from 'node:zlib';
import { ConfigError } from '../core/errors.js';
import type { MetricsConfig } from '../config/types.js';
import { formatListenAddress, parseListenAddress, type ListenAddress } from './address.js';
import { renderExposition } from './exposition.js';
import { collectMetrics, type MetricsSource } from './families.js';

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsEndpoint {
  private server: Server | null = null;
  private bound: ListenAddress | null = null;
  private readonly source: MetricsSource;
  private readonly log: (msg: string) => void;
  /** --metrics: this address for the whole run, whatever the document says */
  private readonly override: ListenAddress | undefined;

  constructor(opts: { source: MetricsSource; log?: (msg: string) => void; override?: ListenAddress }) {
    this.source = opts.source;
    this.log = opts.log ?? (() => {});
    this.override = opts.override;
  }

  /** where it listens now (null: off) */
  get address(): string | null {
    return this.bound ? formatListenAddress(this.bound) : null;
  }

  /** the flag's address, if any (a failure to listen names `--metrics`) */
  async start(): Promise<void> {
    if (this.override) await this.listen(this.override, '--metrics');
  }

  /** the document's `metrics` changed (or was restored): listen there, or stop; with --metrics, nothing */
  async applyDocument(cfg: MetricsConfig | undefined): Promise<void> {
    if (this.override) {
      if (cfg) this.log(`metrics: --metrics ${formatListenAddress(this.override)} is in force for this run; metrics.listen ${cfg.listen} applies to a start without it`);
      return;
    }
    const want = cfg ? parseListenAddress(cfg.listen, 'metrics.listen') : null;
    if (want && this.bound && want.host === this.bound.host && want.port === this.bound.port) return;
    await this.close();
    if (want) await this.listen(want, 'metrics.listen');
  }

  private async listen(a: ListenAddress, field: string): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('only GET\n');
        return;
      }
      if (path === '/metrics') {
        let body: string;
        try {
          body = renderExposition(collectMetrics(this.source));
        } catch (e) {
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`);
          return;
        }
        // Prometheus asks for gzip: the zero series of every drop reason compress ~20:1 (compressed off the main thread)
        if (/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
          gzip(body, (err, zipped) => {
            if (err) {
              res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`);
              return;
            }
            res.writeHead(200, { 'Content-Type': EXPOSITION_CONTENT_TYPE, 'Content-Encoding': 'gzip', 'Content-Length': zipped.length, Vary: 'Accept-Encoding' });
            res.end(req.method === 'HEAD' ? undefined : zipped);
          });
          return;
        }
        res.writeHead(200, { 'Content-Type': EXPOSITION_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), Vary: 'Accept-Encoding' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      if (path === '/') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('xvs metrics: GET /metrics (Prometheus text format)\n');
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /metrics\n');
    });
    // a scrape is one request; a client that keeps a connection open idle does not hold the daemon
    server.keepAliveTimeout = 5_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new ConfigError(field, `cannot listen on ${formatListenAddress(a)}: ${e.code ?? e.message}`)));
      server.listen({ host: a.host, port: a.port, exclusive: true }, () => resolve());
    });
    server.on('error', (e) => this.log(`metrics: ${e.message}`));
    this.server = server;
    this.bound = a;
    this.log(`metrics: serving http://${formatListenAddress(a)}/metrics`);
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
    if (was) this.log(`metrics: stopped listening on ${formatListenAddress(was)}`);
  }
}
