// A profile's files (examples/platforms/<platform>/), read as a platform team would deploy them.

import { readFileSync } from 'node:fs';
import path from 'node:path';

import { REPO } from '../e2e/lib/envoy.mjs';

/** A JSON file of a profile, parsed. */
export const profileJson = (dir, file) => JSON.parse(readFileSync(path.join(REPO, 'examples/platforms', dir, file), 'utf8'));
