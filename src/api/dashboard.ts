import { readdirSync, readFileSync } from 'node:fs';
import express, { type Request, type Response, type Router } from 'express';

/**
 * The dashboard page (`GET /dashboard`): static files from the package's
 * `dashboard/` folder, read once and served from memory: `index.html`, its
 * ES modules (`*.js`) and style sheets (`*.css`). They hold no data and need
 * no token: the page asks for a token (the admin one, or the read-only one)
 * and calls the /v1 routes with it (docs/dashboard.md).
 *
 * Only names of lowercase letters, digits and `-` with one of those two
 * extensions are served (`/dashboard/<name>.js`, `/dashboard/<name>.css`),
 * and only those in the folder: nothing else of the package, not even
 * `index.html` under its own name.
 *
 * A strict Content-Security-Policy: the page loads nothing but these files
 * and talks to nothing but this server; no inline script or style, no frame.
 */
const TYPES = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
} as const;

/** A file the router serves: `<name>.js` or `<name>.css`. */
const ASSET = /^[a-z][a-z0-9-]*\.(js|css)$/;

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

interface File {
  body: Buffer;
  type: string;
}

/** The assets in the folder: `<name>.js` and `<name>.css` (none when it is missing: the page then fails alone). */
function assetNames(): string[] {
  let names: string[];
  try {
    names = readdirSync(DIR);
  } catch {
    return [];
  }
  return names.filter((name) => ASSET.test(name)).sort();
}

/** The page and its assets, by the name they are served under ('' for the page). */
function load(names: readonly string[]): Map<string, File> {
  const out = new Map<string, File>();
  out.set('', { body: readFileSync(new URL('index.html', DIR)), type: TYPES.html });
  for (const name of names) {
    const ext = name.slice(name.lastIndexOf('.') + 1) as 'js' | 'css';
    out.set(name, { body: readFileSync(new URL(name, DIR)), type: TYPES[ext] });
  }
  return out;
}

/**
 * The router for `/dashboard`, `/dashboard/` and one route per asset,
 * `/dashboard/<name>.js|css` (the folder is listed once, here; the files are
 * read on the first request).
 */
export function dashboardRouter(): Router {
  const names = assetNames();
  let files: Map<string, File> | undefined;
  const router = express.Router({ caseSensitive: true, strict: true });
  const send = (name: string) => (_req: Request, res: Response) => {
    files ??= load(names);
    const f = files.get(name) as File;
    res.setHeader('Content-Type', f.type);
    res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.send(f.body);
  };
  router.get('/dashboard', send(''));
  router.get('/dashboard/', send(''));
  for (const name of names) router.get(`/dashboard/${name}`, send(name));
  return router;
}
