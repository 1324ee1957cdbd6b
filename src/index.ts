/**
 * The xvs package API for extension authors: the extension types and helpers, and the in-process
 * test switch. `import { defineFilter, type FilterView } from 'xvs'`.
 */
export * from './extensions/api.js';
export { testSwitch, TestSwitch, type TestStage } from './extensions/testing.js';
export { validateExtensionConfig } from './extensions/config.js';
export { buildPacket, describeFrame, parseHexFrame } from './packet/spec.js';
export { parseMatch, compileMatch, type MatchSpec, type FrameMatcher } from './packet/match.js';
export { ConfigError } from './core/errors.js';
