/**
 * An extension list as the data path will read it back once applied (`SwitchExtensions.toConfig`): each
 * config validated against its extension's spec with defaults filled (a disabled extension may stay
 * unconfigured, as the data path allows), and every installed extension that is not listed appended,
 * disabled, in registry order. Comparing a desired list in this form with the running one makes
 * `config apply` idempotent for files that list only the extensions they care about.
 */
import { ConfigError } from '../core/errors.js';
import type { SwitchExtensionConfig } from '../config/types.js';
import { validateExtensionConfig } from '../extensions/config.js';
import type { ExtensionRegistry } from '../extensions/registry.js';
import type { UnknownExtension } from './desired-state.js';

export function normalizeExtensionList(
  registry: Pick<ExtensionRegistry, 'get' | 'list'>, list: SwitchExtensionConfig[], field: string, unknown: UnknownExtension,
): SwitchExtensionConfig[] {
  const out: SwitchExtensionConfig[] = [];
  list.forEach((e, i) => {
    const reg = registry.get(e.name);
    if (!reg) {
      if (unknown === 'keep') out.push(structuredClone(e));
      if (unknown !== 'error') return;
      const installed = registry.list().map((r) => r.name).join(', ');
      throw new ConfigError(`${field}[${i}].name`, `no installed extension "${e.name}" (installed: ${installed})`);
    }
    let config: Record<string, unknown>;
    try {
      config = validateExtensionConfig(reg.def, e.config ?? {}, `${field}[${i}].config`) as Record<string, unknown>;
    } catch (err) {
      if (e.enabled) throw err;
      config = structuredClone(e.config ?? {});
    }
    out.push({
      name: e.name, enabled: e.enabled,
      ...(Object.keys(config).length > 0 ? { config } : {}),
      ...(e.onError !== undefined ? { onError: e.onError } : {}),
    });
  });
  for (const reg of registry.list()) {
    if (out.some((e) => e.name === reg.name)) continue;
    let config: Record<string, unknown> = {};
    try {
      config = validateExtensionConfig(reg.def, {}, field) as Record<string, unknown>;
    } catch {
      // required keys: stays unconfigured while disabled
    }
    out.push({ name: reg.name, enabled: false, ...(Object.keys(config).length > 0 ? { config } : {}) });
  }
  return out;
}
