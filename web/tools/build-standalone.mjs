#!/usr/bin/env node
// Builds web/explorer/verify.html, the bundle verification page that works when saved and
// opened from file:// (where browsers refuse to import module files): the page's module
// (web/explorer/verify-page.js) and everything it imports (verify.js, the vendored noble
// libraries, the explorer's trust/proof/dom modules) are inlined into one module script, each
// file wrapped in its own function scope; the stylesheet is inlined too. The output is
// committed so the server embeds it and nothing needs building to run; `--check` (and
// web/test/explorer.test.mjs) fails when the committed file differs from a fresh build.
//
//   node web/tools/build-standalone.mjs          # rewrite web/explorer/verify.html
//   node web/tools/build-standalone.mjs --check  # exit 1 on drift

import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const OUTPUT = resolve(webDir, 'explorer/verify.html');

/** Inlines `entry` and its relative imports into one script, dependencies first. */
export function bundleModules(entry) {
  const modules = new Map();
  const order = [];
  const load = (file) => {
    if (modules.has(file)) {
      const m = modules.get(file);
      if (!m.done) throw new Error(`import cycle through ${file}`);
      return m;
    }
    const mod = { id: `__module${modules.size}`, file, done: false };
    modules.set(file, mod);
    let body = readFileSync(file, 'utf8');
    // Block comments (JSDoc examples hold `import` lines) are left alone.
    const comments = [...body.matchAll(/\/\*[\s\S]*?\*\//g)].map((m) => [m.index, m.index + m[0].length]);
    const inComment = (at) => comments.some(([a, b]) => at >= a && at < b);
    body = body.replace(/^import\s+(?:\*\s+as\s+(\w+)|\{([^}]*)\})\s+from\s+(['"])([^'"]+)\3;?[ \t]*$/gm, (whole, ns, names, _q, spec, at) => {
      if (inComment(at)) return whole;
      if (!spec.startsWith('.')) throw new Error(`${file}: only relative imports can be inlined (${spec})`);
      const dep = load(resolve(dirname(file), spec));
      if (ns) return `const ${ns} = ${dep.id};`;
      const parts = names.split(',').map((s) => s.trim()).filter(Boolean).map((p) => p.replace(/\s+as\s+/, ': '));
      return `const { ${parts.join(', ')} } = ${dep.id};`;
    });
    const exported = [];
    body = body.replace(/^export\s+((?:async\s+)?function\*?\s+|class\s+|const\s+|let\s+|var\s+)(\w+)/gm, (_, kw, name) => {
      exported.push(name);
      return kw + name;
    });
    body = body.replace(/^export\s*\{([^}]*)\};?/gm, (_, names) => {
      for (const n of names.split(',').map((s) => s.trim()).filter(Boolean)) {
        const [local, as] = n.split(/\s+as\s+/);
        exported.push(as ? `${as}: ${local}` : local);
      }
      return '';
    });
    const left = body.replace(/\/\*[\s\S]*?\*\//g, '');
    if (/^\s*(import|export)\b/m.test(left)) throw new Error(`${file}: an import or export form this inliner does not handle`);
    const name = relative(webDir, file);
    mod.code = `// ---- web/${name} ----\nconst ${mod.id} = (() => {\n${body}\nreturn Object.freeze({ ${exported.join(', ')} });\n})();\n`;
    mod.done = true;
    order.push(mod);
    return mod;
  };
  load(entry);
  return order.map((m) => m.code).join('\n');
}

/** The page's text. */
export function buildStandalone() {
  const template = readFileSync(resolve(webDir, 'explorer/verify-page.html'), 'utf8');
  const css = readFileSync(resolve(webDir, 'explorer/style.css'), 'utf8');
  const script = bundleModules(resolve(webDir, 'explorer/verify-page.js'));
  const verifySha = createHash('sha256').update(readFileSync(resolve(webDir, 'verify.js'))).digest('hex');
  for (const [what, text, closer] of [['script', script, '</script'], ['style', css, '</style']]) {
    if (text.toLowerCase().includes(closer)) throw new Error(`the inlined ${what} contains ${closer}`);
  }
  return template
    .replace('{{VERIFY_SHA256}}', () => verifySha)
    .replace('/*STYLE*/', () => `\n${css}`)
    .replace('/*SCRIPT*/', () => `\n${script}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const fresh = buildStandalone();
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(OUTPUT, 'utf8');
    } catch {
      // missing counts as drift
    }
    if (committed !== fresh) {
      console.error('web/explorer/verify.html is stale: run `node web/tools/build-standalone.mjs` and commit it');
      process.exit(1);
    }
    console.log('web/explorer/verify.html is up to date');
  } else {
    writeFileSync(OUTPUT, fresh);
    console.log(`wrote ${relative(process.cwd(), OUTPUT)} (${fresh.length} bytes)`);
  }
}
