import { readFileSync } from 'node:fs';
import express, { type Request, type Response, type Router } from 'express';

/**
 * The dashboard page (`GET /dashboard`): three static files from the
 * package's `dashboard/` folder (HTML, one ES module, CSS), read once and
 * served from memory. They hold no data and need no token: the page asks for
 * the admin token and calls the /v1 routes with it (docs/dashboard.md).
 *
 * A strict Content-Security-Policy: the page loads nothing but these files
 * and talks to nothing but this server; no inline script or style, no frame.
 */
const ASSETS = {
  '': ['index.html', 'text/html; charset=utf-8'],
  'dashboard.js': ['dashboard.js', 'text/javascript; charset=utf-8'],
  'dashboard.css': ['dashboard.css', 'text/css; charset=utf-8'],
} as const satisfies Record<string, readonly [file: string, type: string]>;

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Where the files are: `dashboard/` at the package root, from src/api or dist/api alike. */
const DIR = new URL('../../dashboard/', import.meta.url);

type Name = keyof typeof ASSETS;

function load(): Map<Name, Buffer> {
  const out = new Map<Name, Buffer>();
  for (const [name, [file]] of Object.entries(ASSETS) as [Name, (typeof ASSETS)[Name]][]) {
    out.set(name, readFileSync(new URL(file, DIR)));
  }
  return out;
}

/** The router for `/dashboard`, `/dashboard/`, `/dashboard/dashboard.js` and `/dashboard/dashboard.css`. */
export function dashboardRouter(): Router {
  let files: Map<Name, Buffer> | undefined;
  const router = express.Router({ caseSensitive: true, strict: true });
  const send = (name: Name) => (_req: Request, res: Response) => {
    files ??= load();
    res.setHeader('Content-Type', ASSETS[name][1]);
    res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.send(files.get(name));
  };
  router.get('/dashboard', send(''));
  router.get('/dashboard/', send(''));
  router.get('/dashboard/dashboard.js', send('dashboard.js'));
  router.get('/dashboard/dashboard.css', send('dashboard.css'));
  return router;
}
