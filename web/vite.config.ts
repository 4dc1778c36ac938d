// Two pages: the console (index.html) and the dApp page (dapp.html), built into the
// folder a relay serves (`[console] dir`): DATAMGMT_WEB_DIST (scripts/lib.sh's build_web
// builds into a fresh folder and swaps it in), or the build cache's, so build outputs
// stay out of the source tree. Nothing is inlined into the HTML (scripts,
// styles and assets are files), so the relay's Content-Security-Policy needs no
// 'unsafe-inline'.
import { defineConfig } from "vite";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

const outDir = process.env.DATAMGMT_WEB_DIST ?? join(homedir(), ".cache/datamgmt/web");

export default defineConfig({
  base: "/",
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: {
        console: resolve(import.meta.dirname, "index.html"),
        dapp: resolve(import.meta.dirname, "dapp.html"),
      },
    },
  },
});
