// Bundles the front-ends that need npm packages (the output grid) into the Python package.
// Run by the package build (hatch_build.py) and, in a source checkout, on first use when
// the bundle is missing or older than its sources; the output is not committed.
import { build } from "esbuild";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = resolve(here, "../arroyo_jupyter/widgets/static");

await build({
  entryPoints: { output_table: resolve(here, "src/output_grid.js") },
  outdir,
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  legalComments: "none",
  logLevel: "warning",
});
