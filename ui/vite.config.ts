/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The window's code, built into `ui/dist` (the shell's `frontendDist`). Everything is bundled:
// the app loads nothing from the network at run time.
export default defineConfig({
  // Relative asset paths: the bundle is served from Tauri's custom protocol.
  base: './',
  clearScreen: false,
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  server: {
    port: 5173,
    strictPort: true,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
  },
});
