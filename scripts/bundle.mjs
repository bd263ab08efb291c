// `npm run build` step two: bundle the CLI with esbuild into dist/cli/, the program package.json
// `bin` names. A start then reads a few files instead of hundreds from node_modules; each command
// and the big optional parts (AWS SDK, prom-client, ...) stay in chunks loaded on first use.
// Chunks sit beside the entry, so code in any of them finds the program the same way.
import { build } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';

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
/**
 * node-postgres asks "am I in a Cloudflare Worker?" when it is loaded, by constructing a fetch
 * `Response`: in Node.js that loads undici (measured: 0.12 s of CPU and several MB of RSS in every
 * process that talks to PostgreSQL, the daemon included). pgfollower runs on Node.js only: the probe
 * answers from `navigator` alone. The build fails if the probe changes (a pg upgrade), so this is
 * looked at again rather than silently dropped.
 */
const pgNodeOnly = {
  name: 'pg-node-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const probe = "if (typeof Response === 'function') {";
      if (!source.includes(probe)) throw new Error(`pg-node-only: ${args.path} changed; review the plugin`);
      return { contents: source.replace(probe, 'if (false) {'), loader: 'js' };
    });
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
  plugins: [zodEnglishOnly, pgNodeOnly],
  logLevel: 'warning',
  // Native addons and optional peers load from node_modules at run time.
  external: ['lz4-napi', 'pg-native', 'pino-pretty', 'cli-progress'],
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __pgfCreateRequire } from 'node:module'; const require = __pgfCreateRequire(import.meta.url);",
  },
});
await writeFile(`${outdir}/meta.json`, JSON.stringify(result.metafile));
