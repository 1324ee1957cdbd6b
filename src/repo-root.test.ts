import test from 'ava';
import { existsSync } from 'node:fs';
import { LAB_CLI, repoRoot } from './repo-root.js';

// the lab ran `dist/cli/main.js` for a while after the build moved to dist/src: it could not start
test('the CLI path the lab and scripts use exists after the build', (t) => {
  t.true(existsSync(LAB_CLI), `${LAB_CLI} missing`);
  t.true(LAB_CLI.startsWith(repoRoot));
});
