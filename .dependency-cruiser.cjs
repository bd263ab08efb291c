// The layer rule of src/ (docs/architecture.md): a folder may import only from layers below it.
// Layers are listed bottom up; folders on one line are peers and may not import each other.
// `npm run lint` runs this, so a new back-arrow (a folder cycle) fails lint.
const layers = [
  ['errors.ts'],
  ['config', 'exec', 'util'],
  ['postgres'],
  ['logging'],
  ['context.ts'],
  ['archive/store'],
  ['monitor'],
  ['http'],
  ['daemon'],
  ['alerts', 'archive/follower', 'archive/leader', 'slot-repair'],
  ['backup'],
  ['bootstrap'],
  ['failover', 'doctor'],
  ['app'],
  ['demo'],
  ['cli'],
];

const pattern = (name) => (name.endsWith('.ts') ? `^src/${name.replace('.', '\\.')}$` : `^src/${name}/`);
const rules = [];
layers.forEach((row, rank) => {
  const above = layers.slice(rank + 1).flat();
  for (const name of row) {
    const forbidden = [...above, ...row.filter((peer) => peer !== name)];
    if (forbidden.length === 0) continue;
    rules.push({
      name: `layer-${name.replace(/\W/g, '-')}`,
      severity: 'error',
      comment: `${name} is below ${forbidden.join(', ')} in the layer order (see docs/architecture.md)`,
      from: { path: pattern(name) },
      to: { path: forbidden.map(pattern) },
    });
  }
});

module.exports = {
  forbidden: [
    ...rules,
    {
      name: 'not-in-a-layer',
      severity: 'error',
      comment: 'every file in src/ belongs to a layer: add its folder to .dependency-cruiser.cjs',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: layers.flat().map(pattern) },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'modules import each other',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules|test|bench)/' },
  },
};
