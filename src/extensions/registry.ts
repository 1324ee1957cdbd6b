/**
 * The extensions installed in this daemon: the built-in ones (folders under src/extensions) and
 * third-party plug-ins loaded from a directory/manifest path or an installed npm package. Every
 * installed extension is bound to every switch, disabled until enabled (Hyper-V's model).
 *
 * A plug-in carries a manifest (`xvs-extension.json` in its directory, or the `xvs` key of its
 * package.json): `{ name, version, kind, main, xvsApi: 1 }`. `main` (relative to the manifest) is an
 * ES module whose default export is the Extension; its name and kind must match the manifest.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import type { ExtensionInfo } from '../switch/manager-api.js';
import { EXTENSION_API_VERSION, type Extension, type ExtensionDoc, type ExtensionManifest } from './api.js';

export const BUILTIN_EXTENSIONS = ['learning', 'static', 'firewall', 'dhcp-server', 'pcap', 'sflow', 'noop'] as const;
const DOC_SECTIONS: (keyof ExtensionDoc)[] = ['synopsis', 'summary', 'description', 'path', 'notes', 'seeAlso'];

export interface RegisteredExtension extends ExtensionInfo {
  def: Extension;
  /** module URL the workers import */
  module: string;
}

/** Checks an extension's doc block: every section present and non-empty. Returns the missing ones. */
export function missingDocSections(def: Extension): string[] {
  const doc = def.doc as Partial<ExtensionDoc> | undefined;
  return DOC_SECTIONS.filter((k) => typeof doc?.[k] !== 'string' || doc[k]!.trim() === '');
}

function checkDefinition(def: Extension, where: string): void {
  if (!def || typeof def !== 'object' || typeof def.create !== 'function') throw new ConfigError(where, 'no extension exported as default');
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(def.name)) throw new ConfigError(`${where}.name`, `bad extension name "${def.name}"`);
  if (!['capture', 'filter', 'forward'].includes(def.kind)) throw new ConfigError(`${where}.kind`, `expected capture, filter or forward, got "${def.kind}"`);
  const missing = missingDocSections(def);
  if (missing.length) throw new ConfigError(`${where}.doc`, `missing doc section(s): ${missing.join(', ')}`);
  if (Object.keys(def.counters).length > 28) throw new ConfigError(`${where}.counters`, 'at most 28 counters');
  if (def.singleWorker !== undefined && typeof def.singleWorker !== 'boolean') {
    throw new ConfigError(`${where}.singleWorker`, `expected true or false, got ${JSON.stringify(def.singleWorker)}`);
  }
}

export class ExtensionRegistry {
  private readonly exts = new Map<string, RegisteredExtension>();

  /** the built-in extensions (a missing folder is skipped with a log line) */
  async loadBuiltins(log: (m: string) => void = () => {}): Promise<void> {
    for (const name of BUILTIN_EXTENSIONS) {
      const url = new URL(`./${name}/index.js`, import.meta.url);
      if (!existsSync(url)) {
        log(`built-in extension ${name} is not built (${url.pathname}); skipped`);
        continue;
      }
      const def = ((await import(url.href)) as { default: Extension }).default;
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

  /** Resolve a plug-in source to its manifest file: a directory, a manifest/package.json path, or an npm package. */
  static resolveManifest(source: string): { file: string; manifest: ExtensionManifest } {
    let file: string | undefined;
    const asPath = path.resolve(source);
    if (existsSync(asPath)) {
      if (statSync(asPath).isDirectory()) {
        if (existsSync(path.join(asPath, 'xvs-extension.json'))) file = path.join(asPath, 'xvs-extension.json');
        else if (existsSync(path.join(asPath, 'package.json'))) file = path.join(asPath, 'package.json');
      } else if (asPath.endsWith('.json')) {
        file = asPath;
      }
      if (!file) throw new ConfigError('source', `${source}: no xvs-extension.json or package.json with an "xvs" key`);
    } else {
      const require = createRequire(path.join(process.cwd(), 'noop.js'));
      try {
        file = require.resolve(`${source}/package.json`, { paths: [process.cwd(), '/usr/local/lib/node_modules', '/usr/lib/node_modules'] });
      } catch {
        throw new ConfigError('source', `"${source}" is neither a path nor an installed npm package`);
      }
    }
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
    return { file, manifest: m as ExtensionManifest };
  }

  /** Install a plug-in; returns its info. Loading is also how it is checked: kind, name, doc sections. */
  async install(source: string): Promise<RegisteredExtension> {
    const { file, manifest } = ExtensionRegistry.resolveManifest(source);
    const main = path.resolve(path.dirname(file), manifest.main);
    if (!existsSync(main)) throw new ConfigError('source', `${file}: main "${manifest.main}" does not exist`);
    const url = pathToFileURL(main).href;
    const def = ((await import(url)) as { default: Extension }).default;
    checkDefinition(def, `plugin ${manifest.name}`);
    if (def.name !== manifest.name || def.kind !== manifest.kind) {
      throw new ConfigError('source', `${main} exports ${def.kind} "${def.name}", the manifest says ${manifest.kind} "${manifest.name}"`);
    }
    const existing = this.exts.get(def.name);
    if (existing && existing.source !== source) throw new ConfigError('source', `an extension "${def.name}" is already installed (from ${existing.source})`);
    const reg: RegisteredExtension = {
      name: def.name, version: def.version, kind: def.kind, summary: def.doc.summary, source, def, module: url,
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
