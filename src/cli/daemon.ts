/**
 * `xvs daemon`: run the daemon in the foreground (systemd `Type=simple`), and `xvs daemon status`.
 *
 * The data path is imported only when the daemon starts, so the client commands never load it.
 */
import path from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig, removeStaleTemps } from '../config/store.js';
import { acquireInstanceLock } from '../control/instance-lock.js';
import { ControlServer } from '../control/server.js';
import type { ConnectionLimits } from '../control/connections.js';
import { ConfigError } from '../core/errors.js';
import { etcdEndpoint } from '../config/hnv.js';
import type { HnvEtcdConfig, XvsConfig } from '../config/types.js';
import { netdevRecordPath } from '../ports/netdev-record.js';
import { parseListenAddress } from '../metrics/address.js';
import type { HnvShowResult } from '../hnv/control.js';
import { createLogger, LOG_FORMATS, LOG_LEVELS, parseLogFormat, parseLogLevel } from '../log/logger.js';
import { call, keyValues, out, printJson, table, withJson, type Cli, type GlobalArgs } from './common.js';

interface DaemonArgs extends GlobalArgs {
  config: string;
  watchdog?: number;
  logLevel?: string;
  logFormat?: string;
  maxConnections?: number;
  idleTimeout?: number;
  etcd?: string;
  hnvHost?: string;
  metrics?: string;
  dashboard?: string;
}

/** --etcd ENDPOINTS (comma-separated) and --hnv-host NAME: HNV policy from etcd for this run (over the config's hnv.etcd) */
function hnvOptions(argv: DaemonArgs, config: XvsConfig): { etcd?: HnvEtcdConfig; hnvHost?: string } {
  const out: { etcd?: HnvEtcdConfig; hnvHost?: string } = {};
  if (argv.hnvHost !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(argv.hnvHost)) throw new ConfigError('--hnv-host', `expected a host name (A-Z a-z 0-9 . _ -), got "${argv.hnvHost}"`);
    out.hnvHost = argv.hnvHost;
  }
  if (argv.etcd !== undefined) {
    // the document's prefix (and host) still apply; the flag names the endpoints
    const endpoints = String(argv.etcd).split(',').map((e, i) => etcdEndpoint(e.trim(), `--etcd[${i}]`));
    out.etcd = { ...config.hnv?.etcd, endpoints };
  }
  return out;
}

/** --max-connections and --idle-timeout (seconds) as ControlServer limits; errors name the flag */
function connectionLimits(argv: DaemonArgs): Partial<ConnectionLimits> {
  const limits: Partial<ConnectionLimits> = {};
  const mc = argv.maxConnections;
  if (mc !== undefined) {
    if (!Number.isInteger(mc) || mc < 1 || mc > 65_536) throw new ConfigError('--max-connections', `expected an integer 1..65536, got ${mc}`);
    limits.maxConnections = mc;
  }
  const it = argv.idleTimeout;
  if (it !== undefined) {
    if (!Number.isFinite(it) || it < 0.1 || it > 86_400) throw new ConfigError('--idle-timeout', `expected seconds 0.1..86400, got ${it}`);
    limits.idleTimeoutMs = Math.round(it * 1000);
  }
  return limits;
}

async function runDaemon(argv: DaemonArgs): Promise<void> {
  const log = createLogger({
    level: parseLogLevel(argv.logLevel ?? process.env['XVS_LOG_LEVEL'] ?? 'info', '--log-level'),
    ...(argv.logFormat !== undefined ? { format: parseLogFormat(argv.logFormat, '--log-format') } : {}),
  });
  const wd = argv.watchdog === undefined ? undefined : Math.round(argv.watchdog * 1000);
  if (wd !== undefined && (!Number.isFinite(wd) || wd < 100)) throw new Error(`--watchdog: expected seconds ≥ 0.1, got ${String(argv.watchdog)}`);
  const limits = connectionLimits(argv);
  // One daemon per config file and per socket, before anything touches the system (control/instance-lock.ts).
  const socketPath = argv.socket;
  const lock = await acquireInstanceLock({ configPath: argv.config, socketPath, log });
  // Holding the lock, no save is running: a temporary file next to the config is left from a crash.
  for (const f of removeStaleTemps(argv.config)) log(`removed ${f}, left by an interrupted save`);
  const config = loadConfig(argv.config);
  const hnv = hnvOptions(argv, config);
  const metricsOverride = argv.metrics !== undefined ? parseListenAddress(String(argv.metrics), '--metrics') : undefined;
  const dashboardOverride = argv.dashboard !== undefined ? parseListenAddress(String(argv.dashboard), '--dashboard') : undefined;
  // the daemon's state directory is its config file's; extensions (pcap) keep their files under it
  process.env['XVS_STATE_DIR'] = path.dirname(path.resolve(argv.config));
  const { DataPathManager } = await import('../switch/manager.js');
  const { notifySystemd } = await import('../service/notify.js');
  const manager = new DataPathManager({ log, tuning: wd !== undefined ? { watchdogMs: wd } : {}, netdevRecord: netdevRecordPath(argv.config) });
  await manager.ready;
  // metrics are read from the manager's shared counters at scrape time (src/metrics)
  const { MetricsEndpoint } = await import('../metrics/endpoint.js');
  const metrics = new MetricsEndpoint({ source: manager, log, ...(metricsOverride ? { override: metricsOverride } : {}) });
  // the read-only dashboard reads the same counters when its page polls, and the HNV view of the control server
  const { DashboardEndpoint } = await import('../dashboard/server.js');
  const dashboard = new DashboardEndpoint({
    source: manager, hnv: (): HnvShowResult => server.hnv.show(), log, ...(dashboardOverride ? { override: dashboardOverride } : {}),
  });
  const server = new ControlServer({
    manager, extensions: manager, socketPath, configPath: argv.config, config, log, lock, limits, ...hnv,
    metrics, dashboard,
  });
  try {
    await server.listen();
    await metrics.start();
    await dashboard.start();
  } catch (e) {
    await metrics.close().catch(() => {});
    await server.close().catch(() => {});
    await manager.shutdown();
    throw e;
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    notifySystemd({ STOPPING: 1, STATUS: `${signal}: shutting down` }, log.warn);
    void (async () => {
      let code = 0;
      try {
        await metrics.close();
        await dashboard.close();
        await server.close();
        await manager.shutdown();
      } catch (e) {
        log.error(`shutdown: ${e instanceof Error ? e.message : String(e)}`);
        code = 1;
      }
      process.exit(code);
    })();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  // what an interrupted change left (a TAP of a killed `port add`) goes before the configuration is restored
  manager.reconcileNetdevs(config);
  await server.restore();
  log(`daemon ready (pid ${process.pid}, config ${argv.config})`);
  // systemd (Type=notify): ready only now, with the socket answering and the configuration restored
  const switches = manager.listSwitches().length;
  notifySystemd({ READY: 1, MAINPID: process.pid, STATUS: `${switches} switch(es) running; control socket ${socketPath}` }, log.warn);
}

export function daemonCommands(y: Cli): Cli {
  return y.command(
    'daemon',
    'run the xvs daemon in the foreground; "xvs daemon status" asks a running one',
    (d) =>
      d
        .option('config', { type: 'string', default: DEFAULT_CONFIG_PATH, describe: 'config file to load and keep' })
        .option('log-level', { type: 'string', choices: [...LOG_LEVELS], describe: 'least important messages logged (default info; env XVS_LOG_LEVEL)' })
        .option('log-format', { type: 'string', choices: [...LOG_FORMATS], describe: 'text (time, level), journal (sd-daemon priorities; the default under systemd) or json' })
        .option('max-connections', { type: 'number', describe: 'open control connections at most; one more is refused (default 256)' })
        .option('idle-timeout', { type: 'number', describe: 'seconds: close a control connection idle this long (default 60)' })
        .option('etcd', { type: 'string', describe: 'HNV: read and write PAs, records and routes in etcd at these endpoints (comma-separated http(s) URLs) for this run, over the config\'s hnv.etcd' })
        .option('hnv-host', { type: 'string', describe: 'HNV: this daemon\'s name among the hosts sharing etcd (default: hnv.etcd.host, then the host name)' })
        .option('dashboard', { type: 'string', describe: 'serve the read-only web dashboard on ADDRESS:PORT, e.g. 127.0.0.1:9478, for this run, over the config\'s dashboard.listen (default: off)' })
        .option('metrics', { type: 'string', describe: 'serve Prometheus metrics (GET /metrics) on ADDRESS:PORT, e.g. 127.0.0.1:9477, for this run, over the config\'s metrics.listen (default: off)' })
        .option('watchdog', { type: 'number', describe: 'seconds: replace a data-path worker whose heartbeat stops this long (default 2; env XVS_WATCHDOG_MS in ms)' })
        .command(
          'status',
          'show the running daemon and what it could not restore',
          (c) => withJson(c),
          async (a) => {
            const s = await call(a, 'daemon.status', {});
            if (a.json) return printJson(s);
            out(
              keyValues([
                ['pid', s.pid],
                ['version', s.version],
                ['socket', s.socket],
                ['config', s.configPath],
                ['started', s.startedAt],
                ['uptime', `${s.uptimeSeconds} s`],
                ...(s.restoring ? [['state', `restoring (${s.restoring.switchesDone} of ${s.restoring.switches} switches, ${s.restoring.changesDone} of ${s.restoring.changes} changes)`] as [string, string]] : []),
                ['switches', s.switches],
                ['ports', s.ports],
                ['metrics', s.metrics !== undefined ? `http://${s.metrics}/metrics` : 'off'],
                ['dashboard', s.dashboard !== undefined ? `http://${s.dashboard}/` : 'off'],
                ['problems', s.problems.length],
              ]),
            );
            if (s.problems.length > 0) out(`\n${table(['FIELD', 'PROBLEM'], s.problems.map((p) => [p.field, p.message]))}`);
            const restarted = s.workers ?? [];
            if (restarted.length > 0) {
              out(`\n${table(['SWITCH', 'WORKER', 'RESTARTS', 'LAST CAUSE', 'AT'], restarted.map((w) => [w.switch, w.worker, w.restarts, w.lastCause ?? '', w.at ?? '']))}`);
            }
          },
        ),
    (a) => runDaemon(a),
  );
}
