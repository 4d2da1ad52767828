// Shared by the node tests: the repository's golden files and word lists.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { wordLists } from '../src/code.js';

export const root = fileURLToPath(new URL('../../', import.meta.url));

export function readJSON(rel) {
  return JSON.parse(readFileSync(root + rel, 'utf8'));
}

export function lists() {
  return wordLists(
    readFileSync(root + 'internal/code/wordlist_en.txt', 'utf8'),
    readFileSync(root + 'internal/code/wordlist_de.txt', 'utf8'),
  );
}
