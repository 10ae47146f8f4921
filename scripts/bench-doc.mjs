// Puts a section a bench script wrote into docs/benchmarks.md between its markers
// (`<!-- NAME:begin … -->` … `<!-- NAME:end -->`), leaving the rest of the page as it is; a page
// without them gets the section before `anchor`, or at its end.
import { readFileSync, writeFileSync } from 'node:fs';

const docPath = new URL('../docs/benchmarks.md', import.meta.url);

export function writeSection(name, section, anchor) {
  const doc = readFileSync(docPath, 'utf8');
  const begin = doc.indexOf(`<!-- ${name}:begin`);
  const endMarker = `<!-- ${name}:end -->`;
  const end = doc.indexOf(endMarker);
  let updated;
  if (begin >= 0 && end > begin) {
    updated = doc.slice(0, begin) + section + doc.slice(end + endMarker.length);
  } else {
    const at = doc.indexOf(anchor);
    updated = at >= 0 ? `${doc.slice(0, at)}${section}\n\n${doc.slice(at)}` : `${doc.trimEnd()}\n\n${section}\n`;
  }
  writeFileSync(docPath, updated);
}
