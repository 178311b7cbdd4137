/**
 * The renderer's Content-Security-Policy: only the app's own scripts, styles
 * and images; no inline script, no eval, no plugins, no framing, no form
 * posts. The renderer's index.html carries it in a
 * `<meta http-equiv="Content-Security-Policy">` tag (file:// responses have
 * no headers); the main process also sets it as a header on any HTTP
 * response the session sees, where frame-ancestors is honoured too.
 * 'self' also covers the web bridge's fetches in browser tests (same origin).
 */
export const RENDERER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ');

/** The header form adds what a meta tag cannot express. */
export const RENDERER_CSP_HEADER = `${RENDERER_CSP}; frame-ancestors 'none'`;
