/**
 * The dashboard: an HTTP listener on the one address the operator gives (`xvs daemon --dashboard
 * 127.0.0.1:9478`, or `dashboard.listen` in the config; off by default) serving a read-only page
 * (page.ts: HTML, CSS and script, no build step, nothing from elsewhere) and the JSON it polls
 * (`GET /api/snapshot`, snapshot.ts). There is no method that changes anything: every other method is 405.
 *
 * Like the metrics endpoint (metrics/endpoint.ts) the flag is for this run and wins over the document; the
 * document's setting is applied by the `setDashboard` change of config/desired.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { HnvShowResult } from '../hnv/control.js';
import type { ListenAddress } from '../metrics/address.js';
import { OptInListener } from '../metrics/opt-in-listener.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_ICON, dashboardScript } from './page.js';
import { collectSnapshot, type DashboardSource } from './snapshot.js';

/** Same-origin only: scripts, styles and the JSON come from this listener; nothing is framed or sent elsewhere. */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
} as const;

/**
 * A DNS-rebinding page reaches a loopback listener under its own host name; the dashboard answers only
 * requests addressed to an IP literal or localhost.
 */
export function hostAllowed(host: string | undefined): boolean {
  if (host === undefined) return false;
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::\d{1,5})?$/.exec(host);
  if (!m) return false;
  const name = m[1] ?? m[2];
  return name === 'localhost' || isIP(name) !== 0;
}

export class DashboardEndpoint extends OptInListener {
  private readonly source: DashboardSource;
  private readonly hnv: (() => HnvShowResult | null) | undefined;
  private readonly script = dashboardScript();

  constructor(opts: { source: DashboardSource; hnv?: () => HnvShowResult | null; log?: (msg: string) => void; override?: ListenAddress }) {
    super({ name: 'dashboard', servedPath: '/', log: opts.log, override: opts.override });
    this.source = opts.source;
    this.hnv = opts.hnv;
  }

  private body(req: IncomingMessage): { status: number; type: string; body: string } {
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/':
      case '/index.html':
        return { status: 200, type: 'text/html; charset=utf-8', body: DASHBOARD_HTML };
      case '/app.css':
        return { status: 200, type: 'text/css; charset=utf-8', body: DASHBOARD_CSS };
      case '/app.js':
        return { status: 200, type: 'text/javascript; charset=utf-8', body: this.script };
      case '/favicon.svg':
      case '/favicon.ico':
        return { status: 200, type: 'image/svg+xml', body: DASHBOARD_ICON };
      case '/api/snapshot':
        return { status: 200, type: 'application/json', body: JSON.stringify(collectSnapshot(this.source, this.hnv)) };
      default:
        return { status: 404, type: 'text/plain; charset=utf-8', body: 'not found\n' };
    }
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // read-only: there is nothing to change through the dashboard
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain', ...SECURITY_HEADERS }).end('read-only: only GET\n');
      return;
    }
    if (!hostAllowed(req.headers.host)) {
      res.writeHead(421, { 'Content-Type': 'text/plain', ...SECURITY_HEADERS }).end('address the dashboard by IP address or localhost\n');
      return;
    }
    let r: { status: number; type: string; body: string };
    try {
      r = this.body(req);
    } catch (e) {
      r = { status: 500, type: 'text/plain; charset=utf-8', body: `${e instanceof Error ? e.message : String(e)}\n` };
    }
    res.writeHead(r.status, { 'Content-Type': r.type, 'Content-Length': Buffer.byteLength(r.body), ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : r.body);
  }
}
