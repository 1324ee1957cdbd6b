/**
 * The metrics endpoint: an HTTP listener on the one address the operator gives (`xvs daemon --metrics
 * 127.0.0.1:9477`, or `metrics.listen` in the config; off by default) that answers `GET /metrics` with the
 * Prometheus text exposition of families.ts, read from the switches' shared counters at that moment.
 *
 * The flag is for this run and wins over the document; the document's setting is applied by the
 * `setMetrics` change of config/desired.ts (so `xvs config apply` moves the listener, and a restart restores it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzip } from 'node:zlib';
import type { ListenAddress } from './address.js';
import { OptInListener } from './opt-in-listener.js';
import { renderExposition } from './exposition.js';
import { collectMetrics, type MetricsSource } from './families.js';

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsEndpoint extends OptInListener {
  private readonly source: MetricsSource;

  constructor(opts: { source: MetricsSource; log?: (msg: string) => void; override?: ListenAddress }) {
    super({ name: 'metrics', servedPath: '/metrics', log: opts.log, override: opts.override });
    this.source = opts.source;
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
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
  }
}
