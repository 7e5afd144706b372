// ordergate's version, from the package.json it was installed with (dist/src/cli/ is three levels down).

import { readFileSync } from 'node:fs';

export function readVersion(): string {
  const path = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
