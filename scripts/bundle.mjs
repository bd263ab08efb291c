// `npm run build` step two: bundle the CLI with esbuild into dist/cli/, the program package.json
// `bin` names. A start then reads a few files instead of hundreds from node_modules; each command
// and the big optional parts (AWS SDK, prom-client, ...) stay in chunks loaded on first use.
// Chunks sit beside the entry, so code in any of them finds the program the same way.
import { build } from 'esbuild';
import { rm, writeFile } from 'node:fs/promises';

const outdir = 'dist/cli';

/**
 * zod keeps every message locale reachable through its namespace objects, so nothing shakes them
 * out (366 kB, half of zod in the bundle, parsed by every start that loads the config). pgfollower
 * uses only the English messages, zod's default: resolve zod's locale index to just that one.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes('/node_modules/zod/')
        ? { path: 'zod-locales', namespace: 'zod-english-only' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({
      contents: "export { default as en } from 'zod/v4/locales/en.js';",
      resolveDir: import.meta.dirname + '/..',
      loader: 'js',
    }));
  },
};
await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { pgfollower: 'src/cli/bin.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  // ES module builds first: a dynamic import() of a CommonJS package in a chunk only has a default
  // export (the AWS SDK's named exports would be missing), and ES modules tree-shake.
  mainFields: ['module', 'main'],
  target: 'node20',
  sourcemap: 'linked',
  metafile: true,
  plugins: [zodEnglishOnly],
  logLevel: 'warning',
  // Native addons and optional peers load from node_modules at run time.
  external: ['lz4-napi', 'pg-native', 'pino-pretty', 'cli-progress'],
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __pgfCreateRequire } from 'node:module'; const require = __pgfCreateRequire(import.meta.url);",
  },
});
await writeFile(`${outdir}/meta.json`, JSON.stringify(result.metafile));
