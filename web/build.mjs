// Builds the join page into dist/ (npm run build), or checks that the
// committed dist/ is what the sources build to (npm run check). The word
// lists come from internal/code at build time, so the page and the Go code
// share one source. Output names carry a content hash so that the assets can
// be cached for good; dist/join.html names them.

import * as esbuild from 'esbuild';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');

// direkt:words is the two word lists, checked like internal/code checks them.
const words = {
  name: 'direkt-words',
  setup(b) {
    b.onResolve({ filter: /^direkt:words$/ }, () => ({ path: 'words', namespace: 'direkt' }));
    b.onLoad({ filter: /.*/, namespace: 'direkt' }, () => {
      const lists = {};
      for (const l of ['en', 'de']) {
        const file = join(root, 'internal', 'code', `wordlist_${l}.txt`);
        const w = readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
        if (w.length !== 1024 || w.some((x) => !/^[a-z]{3,9}$/.test(x))) throw new Error(`${file}: not 1024 words of a-z`);
        lists[l] = w;
      }
      return { contents: `export default ${JSON.stringify(lists)};`, loader: 'js', watchFiles: [] };
    });
  },
};

async function build(out) {
  const res = await esbuild.build({
    absWorkingDir: here,
    entryPoints: { join: 'src/main.js', style: 'src/join.css' },
    entryNames: 'join-[hash]',
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    legalComments: 'eof',
    charset: 'utf8',
    plugins: [words],
    write: false,
    outdir: out,
    logLevel: 'warning',
  });
  const files = {};
  for (const f of res.outputFiles) files[f.path.slice(out.length + 1)] = f.contents;
  const js = Object.keys(files).find((n) => n.endsWith('.js'));
  const css = Object.keys(files).find((n) => n.endsWith('.css'));
  const html = readFileSync(join(here, 'src', 'join.html'), 'utf8').replace('{{JS}}', js).replace('{{CSS}}', css);
  files['join.html'] = new TextEncoder().encode(html);
  return files;
}

function write(dir, files) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
}

const dist = join(here, 'dist');
if (process.argv.includes('--check')) {
  const tmp = mkdtempSync(join(tmpdir(), 'direkt-web-'));
  try {
    const files = await build(tmp);
    write(tmp, files);
    let committed = [];
    try {
      committed = readdirSync(dist).sort();
    } catch {
      // no dist/ at all
    }
    const built = Object.keys(files).sort();
    const diff = [];
    for (const n of new Set([...committed, ...built])) {
      if (!committed.includes(n)) diff.push(`missing in dist/: ${n}`);
      else if (!built.includes(n)) diff.push(`stale in dist/: ${n}`);
      else if (Buffer.compare(readFileSync(join(dist, n)), Buffer.from(files[n])) !== 0) diff.push(`differs: ${n}`);
    }
    if (diff.length) {
      console.error(`web/dist is not what the sources build to; run npm run build in web/ and commit dist/:\n  ${diff.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log(`web/dist is up to date (${built.length} files)`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  const files = await build(dist);
  write(dist, files);
  for (const [n, d] of Object.entries(files)) console.log(`dist/${n}  ${d.length} bytes`);
}
