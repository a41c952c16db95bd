import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

/** A static file the dashboard serves: read and compressed once, at start. */
export interface DashboardAsset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  etag: string;
}

const require = createRequire(import.meta.url);
const OWN_ASSETS = new URL('../../dashboard-assets/', import.meta.url);

/** Asset names (as in /assets/<name>) and where each file lives: ours, and uPlot's from its package. */
const FILES: Record<string, { path: string | URL; type: string }> = {
  'dashboard.css': { path: new URL('dashboard.css', OWN_ASSETS), type: 'text/css; charset=utf-8' },
  'dashboard.js': { path: new URL('dashboard.js', OWN_ASSETS), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': {
    path: require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

export function loadDashboardAssets(): Map<string, DashboardAsset> {
  const assets = new Map<string, DashboardAsset>();
  for (const [name, file] of Object.entries(FILES)) {
    const body = readFileSync(file.path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { type: file.type, body, gzipped: gzipSync(body, { level: 9 }), etag });
  }
  return assets;
}
