/**
 * Hyper-V Network Virtualization in the data path (docs/HNV.md): placeholder of the skeleton commit;
 * the module places no hook yet.
 */
import type { PolicyModule } from '../runtime.js';

export const hnvPolicy: PolicyModule = {
  name: 'hnv',
  stages: ['miniport'],
  summary: () => [],
  create: () => ({ configure: () => [] }),
};
