// Build the shipped front-ends: each widget's ESM with common.js inlined, no dependencies.
//   node js/build.mjs [outdir]     (default: arroyo_jupyter/widgets/static)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "..", "arroyo_jupyter", "widgets", "static");
export const WIDGETS = ["job_state", "output_table", "errors", "checkpoints", "metrics", "figure"];

const common = readFileSync(join(here, "common.js"), "utf8").replace(/^export /gm, "");
mkdirSync(out, { recursive: true });
for (const name of WIDGETS) {
  const src = readFileSync(join(here, name + ".js"), "utf8").replace(/^import .* from "\.\/common\.js";\n/gm, "");
  const banner = `// Built from js/${name}.js and js/common.js by js/build.mjs — edit those, then \`npm run build\`.\n`;
  // Every view announces itself, so the kernel stops re-publishing saved snapshots (widgets/_saved.py).
  const announced = src.replace(
    /^export default \{ render \};$/m,
    'export default { render(ctx) { ctx.model.send({ type: "__view__" }); return render(ctx); } };',
  );
  if (announced === src) throw new Error(`js/${name}.js must end with \`export default { render };\``);
  writeFileSync(join(out, name + ".js"), banner + common + "\n" + announced);
}
writeFileSync(join(out, "arroyo.css"), readFileSync(join(here, "arroyo.css"), "utf8"));
console.log(`built ${WIDGETS.length} widgets into ${out}`);
