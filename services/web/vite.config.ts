import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The dev server proxies the API to a running `make start`, so `npm run dev -w @switchboard/web`
// serves the app with hot reload on the same origin as the API.
const apiTarget = process.env.SWB_WEB_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/v1': apiTarget,
      '/docs': apiTarget,
    },
  },
});
