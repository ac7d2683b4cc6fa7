/**
 * The web app (web/, built by `npm ci` into dist/web) served as static files at `/`. The app talks only to this
 * service's own REST and WebSocket API; nothing is fetched from elsewhere at run time (the machines a venue runs this
 * on may have no internet), which the Content-Security-Policy below also enforces in the browser.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where the built app is: next to the compiled service (dist/service → dist/web), or dist/web from src/ under tsx. */
export function webRoot(): string | null {
  for (const rel of ['../web/', '../../dist/web/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return null;
}

/** Same-origin only: scripts, styles, data and the WebSocket (`ws:`/`wss:` of this host, which 'self' covers in
 * current browsers; listed for older ones). Inline styles are allowed for the chart library's element styles. */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Registers the app's files (one route per file, no wildcard: unknown paths keep the API's JSON 404). */
export async function registerWebApp(
  app: FastifyInstance,
  root: string | null = webRoot(),
): Promise<boolean> {
  if (root === null) return false;
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    // Hashed asset names change with their content; index.html must be re-read to find them.
    setHeaders(reply, path) {
      reply.header('content-security-policy', CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  return true;
}
