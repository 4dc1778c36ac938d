// Generates the TypeScript the web pages are typed with, from the sources of truth:
// - src/api/schema.d.ts from the relay's OpenAPI description (relay/openapi.json);
// - src/dapp/generated/ from the access contract's ink! metadata (what
//   `cargo contract build` writes; DATAMGMT_CONTRACT_METADATA, or the build cache's).
// With --check, generates into a temporary folder and fails when the committed files
// differ (CI runs it, so a changed API or contract cannot leave stale types behind).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, cpSync, existsSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const cache = process.env.DATAMGMT_CACHE_DIR ?? join(homedir(), ".cache/datamgmt");
const metadata = process.env.DATAMGMT_CONTRACT_METADATA ?? join(cache, "contract-target/ink/access.json");
if (!existsSync(metadata)) {
  console.error(`no contract metadata at ${metadata}: build the contract (scripts/deploy.sh)`);
  process.exit(1);
}
const bin = (name) => join(web, "node_modules/.bin", name);
const out = mkdtempSync(join(tmpdir(), "datamgmt-web-"));
try {
  execFileSync(bin("openapi-typescript"), [join(web, "../relay/openapi.json"), "-o", join(out, "schema.d.ts")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  execFileSync(bin("dedot"), ["typink", "-m", metadata, "-o", join(out, "contract")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const pairs = [[join(out, "schema.d.ts"), join(web, "src/api/schema.d.ts")]];
  const generated = join(out, "contract/access");
  for (const file of readdirSync(generated).sort()) {
    pairs.push([join(generated, file), join(web, "src/dapp/generated", file)]);
  }
  if (check) {
    const stale = pairs.filter(([fresh, kept]) => !existsSync(kept) || readFileSync(fresh, "utf8") !== readFileSync(kept, "utf8"));
    if (stale.length) {
      console.error(`generated files are stale (run \`npm run generate\` in web/): ${stale.map(([, kept]) => kept).join(", ")}`);
      process.exit(1);
    }
    console.log(`generated files are current (${pairs.length})`);
  } else {
    rmSync(join(web, "src/dapp/generated"), { recursive: true, force: true });
    for (const [fresh, kept] of pairs) cpSync(fresh, kept);
    console.log(`wrote ${pairs.length} files`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
