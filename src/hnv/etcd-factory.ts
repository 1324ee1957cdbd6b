/**
 * How the control plane gets an etcd policy source: `createEtcdSource(cfg, log)` of hnv/etcd-source.ts
 * (the "hnv-etcd" part), loaded when `hnv.etcd` (or the daemon's --etcd) asks for it, so a daemon without
 * etcd never loads the client. Tests and embedders may pass their own factory (ControlServerOptions).
 */
import type { HnvEtcdConfig } from '../config/types.js';
import type { HnvObjectKind, HnvPolicySource } from './model.js';

/** the etcd settings in force: the prefix and this daemon's host name resolved */
export type ResolvedEtcdConfig = Required<HnvEtcdConfig>;

/** what the control plane gives the etcd source: the log, this daemon's host, and the one object validator (config/hnv.ts) */
export interface EtcdSourceCallOptions {
  log: (msg: string) => void;
  host: string;
  /** the problems of one object read from etcd (empty: valid), named by field (`vsid: expected 4096..16777214, got 12`) */
  validate: (kind: HnvObjectKind, value: unknown) => string[];
}

export type EtcdSourceFactory = (cfg: ResolvedEtcdConfig, opts: EtcdSourceCallOptions) => HnvPolicySource | Promise<HnvPolicySource>;

/** hnv/etcd-source.ts's factory; an error saying so when this build has none */
export async function loadEtcdFactory(): Promise<EtcdSourceFactory> {
  // a specifier in a variable: the module is optional at compile time
  const spec = './etcd-source.js';
  let mod: unknown;
  try {
    mod = await import(spec);
  } catch (e) {
    throw new Error(`etcd support is not available in this build (hnv/etcd-source.js: ${(e as Error).message})`);
  }
  const f = (mod as { createEtcdSource?: unknown }).createEtcdSource;
  if (typeof f !== 'function') throw new Error('hnv/etcd-source.js exports no createEtcdSource(cfg, log)');
  return f as EtcdSourceFactory;
}
