/**
 * The extensions installed in this daemon: the built-in ones (folders under src/extensions) and
 * third-party plug-ins loaded from a directory/manifest path or an installed npm package. Every
 * installed extension is bound to every switch, disabled until enabled (Hyper-V's model).
 *
 * A plug-in carries a manifest (`xvs-extension.json` in its directory, or the `xvs` key of its
 * package.json): `{ name, version, kind, main, xvsApi: 1 }`. `main` (relative to the manifest) is an
 * ES module whose default export is the Extension; its name and kind must match the manifest.
 *
 * A plug-in's code never runs on the control plane's thread: `install` loads it in a short-lived
 * worker (probe-worker.ts) with heap limits and a timeout and keeps the metadata it returns; the
 * data-path workers import it when a plan enables it (under the watchdog). Built-in extensions are
 * our own code and are imported here.
 *
 * A plug-in runs as root: its files and every directory above them must be writable by root alone
 * (trust.ts, checked at install, at every daemon start and at every import by a worker), unless the
 * operator installed it with `--allow-untrusted` (recorded in the config, warned at every load).
 */
import { checkPortFeatureSpec } from './port-features.js';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../core/errors.js';
import type { ExtensionInfo } from '../switch/manager-api.js';
import { EXTENSION_API_VERSION, type Extension, type ExtensionDoc, type ExtensionManifest, type ExtensionMeta } from './api.js';
import type { ProbeResult } from './probe-worker.js';
import { enforcePluginTrust, resolveMain, type PluginTrust } from './trust.js';

export const BUILTIN_EXTENSIONS = ['learning', 'static', 'firewall', 'dhcp-server', 'pcap', 'sflow', 'noop'] as const;
/** an npm package name, optionally scoped */
const NPM_NAME = /^(@[a-z0-9~][a-z0-9._~-]*\/)?[a-z0-9~][a-z0-9._~-]*$/i;
const DOC_SECTIONS: (keyof ExtensionDoc)[] = ['synopsis', 'summary', 'description', 'path', 'notes', 'seeAlso'];

export interface RegisteredExtension extends ExtensionInfo {
  /** name, kind, doc, config spec, counters: no code (plug-ins are loaded in a worker) */
  def: ExtensionMeta;
  /** module URL the workers import (a real path: what was checked is what is imported) */
  module: string;
  /** plug-ins only: checked again whenever a data-path worker imports the module */
  trust?: PluginTrust;
}

/** what `extension list`/`describe` show of an installed extension */
export function infoOf(r: RegisteredExtension): ExtensionInfo {
  return {
    name: r.name, version: r.version, kind: r.kind, summary: r.summary, source: r.source,
    ...(r.trust?.allowUntrusted ? { allowUntrusted: true as const } : {}),
  };
}

/** Checks an extension's doc block: every section present and non-empty. Returns the missing ones. */
export function missingDocSections(def: ExtensionMeta): string[] {
  const doc = def.doc as Partial<ExtensionDoc> | undefined;
  return DOC_SECTIONS.filter((k) => typeof doc?.[k] !== 'string' || doc[k]!.trim() === '');
}

function checkDefinition(def: ExtensionMeta, where: string): void {
  if (!def || typeof def !== 'object') throw new ConfigError(where, 'no extension exported as default');
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(def.name)) throw new ConfigError(`${where}.name`, `bad extension name "${def.name}"`);
  if (!['capture', 'filter', 'forward'].includes(def.kind)) throw new ConfigError(`${where}.kind`, `expected capture, filter or forward, got "${def.kind}"`);
  const missing = missingDocSections(def);
  if (missing.length) throw new ConfigError(`${where}.doc`, `missing doc section(s): ${missing.join(', ')}`);
  if (Object.keys(def.counters).length > 28) throw new ConfigError(`${where}.counters`, 'at most 28 counters');
  checkPortFeatureSpec(def.portFeatures, `${where}.portFeatures`);
  if (def.singleWorker !== undefined && typeof def.singleWorker !== 'boolean') {
    throw new ConfigError(`${where}.singleWorker`, `expected true or false, got ${JSON.stringify(def.singleWorker)}`);
  }
}

export interface RegistryOptions {
  /** a plug-in that has not finished loading in this time is refused (default 5000 ms) */
  loadTimeoutMs?: number;
  /** heap limit (MB) of the worker that loads a plug-in (default 256) */
  heapMb?: number;
}

/** Load a plug-in module in a worker thread and return its metadata; the worker is always ended. */
export async function probePlugin(url: string, label: string, opts: RegistryOptions = {}): Promise<ExtensionMeta> {
  const timeoutMs = opts.loadTimeoutMs ?? 5000;
  const w = new Worker(new URL('./probe-worker.js', import.meta.url), {
    workerData: { url }, name: `xvs-probe-${label}`,
    resourceLimits: { maxOldGenerationSizeMb: opts.heapMb ?? 256 },
    stdout: false, stderr: false,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `did not finish loading within ${timeoutMs / 1000} s (does its module loop or block at import?)` }), timeoutMs);
      w.once('message', (m: ProbeResult) => resolve(m));
      w.once('error', (e: Error & { code?: string }) => resolve({
        ok: false, error: e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `ran out of memory while loading (${e.message})` : e.message,
      }));
      w.once('exit', (code) => resolve({ ok: false, error: `its loader exited (code ${code}) before reporting` }));
    });
    if (!r.ok) throw new ConfigError('source', `plug-in "${label}": ${r.error}`);
    return r.meta;
  } finally {
    clearTimeout(timer);
    await w.terminate(); // interrupts a module still running (a loop at import)
  }
}

export class ExtensionRegistry {
  private readonly exts = new Map<string, RegisteredExtension>();
  private readonly opts: RegistryOptions;

  constructor(opts: RegistryOptions = {}) {
    this.opts = opts;
  }

  /** the built-in extensions (a missing folder is skipped with a log line) */
  async loadBuiltins(log: (m: string) => void = () => {}): Promise<void> {
    for (const name of BUILTIN_EXTENSIONS) {
      const url = new URL(`./${name}/index.js`, import.meta.url);
      if (!existsSync(url)) {
        log(`built-in extension ${name} is not built (${url.pathname}); skipped`);
        continue;
      }
      const def = ((await import(url.href)) as { default: Extension }).default;
      if (typeof def?.create !== 'function') throw new ConfigError(`extensions.${name}`, 'no extension exported as default');
      checkDefinition(def, `extensions.${name}`);
      this.exts.set(def.name, {
        name: def.name, version: def.version, kind: def.kind, summary: def.doc.summary, source: 'builtin',
        def, module: url.href,
      });
    }
  }

  get(name: string): RegisteredExtension | undefined {
    return this.exts.get(name);
  }

  require(name: string, field: string): RegisteredExtension {
    const e = this.exts.get(name);
    if (!e) throw new ConfigError(field, `no installed extension "${name}" (installed: ${[...this.exts.keys()].join(', ')})`);
    return e;
  }

  list(): RegisteredExtension[] {
    return [...this.exts.values()];
  }

  /**
   * Resolve a plug-in source to its manifest file and directory (real paths): an absolute path to a
   * directory or manifest/package.json, or an npm package name. A relative path is refused: the
   * daemon's working directory is not the operator's (the CLI resolves relative paths before sending).
   */
  static locate(source: string): { file: string; dir: string } {
    let file: string | undefined;
    if (path.isAbsolute(source)) {
      const asPath = path.normalize(source);
      if (!existsSync(asPath)) throw new ConfigError('source', `${asPath}: no such file or directory`);
      const real = realpathSync(asPath);
      if (statSync(real).isDirectory()) {
        if (existsSync(path.join(real, 'xvs-extension.json'))) file = path.join(real, 'xvs-extension.json');
        else if (existsSync(path.join(real, 'package.json'))) file = path.join(real, 'package.json');
      } else if (real.endsWith('.json')) {
        file = real;
      }
      if (!file) throw new ConfigError('source', `${source}: no xvs-extension.json or package.json with an "xvs" key`);
    } else if (source === '.' || source === '..' || /^\.\.?[\\/]/.test(source) || source.includes('\\') || (source.includes('/') && !source.startsWith('@'))) {
      throw new ConfigError('source', `"${source}" is a relative path: the daemon needs an absolute one (xvs extension install resolves it against your working directory)`);
    } else {
      if (!NPM_NAME.test(source)) throw new ConfigError('source', `"${source}" is neither an absolute path nor an npm package name`);
      const require = createRequire(path.join(process.cwd(), 'noop.js'));
      try {
        file = realpathSync(require.resolve(`${source}/package.json`, { paths: [process.cwd(), '/usr/local/lib/node_modules', '/usr/lib/node_modules'] }));
      } catch {
        throw new ConfigError('source', `"${source}" is neither a path nor an installed npm package`);
      }
    }
    return { file, dir: path.dirname(file) };
  }

  /** A plug-in manifest: `{ name, version, kind, main, xvsApi }`, each field checked (errors name the file and field). */
  static readManifest(file: string): ExtensionManifest {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError('source', `${file}: ${(e as Error).message}`);
    }
    const m = (path.basename(file) === 'package.json' ? (json as { xvs?: unknown }).xvs : json) as Partial<ExtensionManifest> | undefined;
    if (!m || typeof m !== 'object') throw new ConfigError('source', `${file}: no "xvs" manifest key`);
    const where = `${file}`;
    if (typeof m.name !== 'string') throw new ConfigError(`${where}: name`, 'required');
    if (typeof m.version !== 'string') throw new ConfigError(`${where}: version`, 'required');
    if (m.kind !== 'capture' && m.kind !== 'filter' && m.kind !== 'forward') throw new ConfigError(`${where}: kind`, 'expected capture, filter or forward');
    if (typeof m.main !== 'string') throw new ConfigError(`${where}: main`, 'required');
    if (m.xvsApi !== EXTENSION_API_VERSION) throw new ConfigError(`${where}: xvsApi`, `expected ${EXTENSION_API_VERSION}, got ${String(m.xvsApi)}`);
    return m as ExtensionManifest;
  }

  /** Resolve a plug-in source to its manifest file (see `locate`) and read the manifest. */
  static resolveManifest(source: string): { file: string; dir: string; manifest: ExtensionManifest } {
    const { file, dir } = ExtensionRegistry.locate(source);
    return { file, dir, manifest: ExtensionRegistry.readManifest(file) };
  }

  /**
   * Install a plug-in; returns its info. Its files are checked first (trust.ts: writable by root
   * only, unless `allowUntrusted`, then logged through `warn`), its `main` must stay inside its
   * directory; loading it is how the rest is checked: kind, name, doc sections.
   */
  async install(source: string, opts: { allowUntrusted?: boolean; warn?: (m: string) => void } = {}): Promise<RegisteredExtension> {
    const { file, dir } = ExtensionRegistry.locate(source);
    const trust: PluginTrust = { dir, allowUntrusted: opts.allowUntrusted === true };
    enforcePluginTrust(trust, source, 'source', opts.warn ?? (() => {}), 'install');
    const manifest = ExtensionRegistry.readManifest(file);
    const main = resolveMain(dir, manifest.main, `${file}: main`);
    const url = pathToFileURL(main).href;
    const def = await probePlugin(url, manifest.name, this.opts);
    checkDefinition(def, `plugin ${manifest.name}`);
    if (def.name !== manifest.name || def.kind !== manifest.kind) {
      throw new ConfigError('source', `${main} exports ${def.kind} "${def.name}", the manifest says ${manifest.kind} "${manifest.name}"`);
    }
    const existing = this.exts.get(def.name);
    if (existing && existing.source !== source) throw new ConfigError('source', `an extension "${def.name}" is already installed (from ${existing.source})`);
    const reg: RegisteredExtension = {
      name: def.name, version: def.version, kind: def.kind, summary: def.doc.summary, source, def, module: url, trust,
      ...(trust.allowUntrusted ? { allowUntrusted: true as const } : {}),
    };
    this.exts.set(def.name, reg);
    return reg;
  }

  uninstall(name: string): void {
    const e = this.require(name, 'name');
    if (e.source === 'builtin') throw new ConfigError('name', `"${name}" is built in and cannot be uninstalled`);
    this.exts.delete(name);
  }
}
