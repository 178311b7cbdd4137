import type { Session } from 'electron';
import { RENDERER_CSP_HEADER } from '../ipc/renderer-csp.js';

/**
 * The app's page needs no device, location, notification or media
 * permission: refuse them all. The one exception is writing to the clipboard
 * ('clipboard-sanitized-write': write-only, sanitized), which the copy
 * buttons for psql/JDBC strings use; reading the clipboard stays denied.
 */
export const allowedPermissions: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

export function hardenSession(ses: Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler' | 'webRequest'>): void {
  ses.setPermissionRequestHandler((_webContents, permission, callback) => callback(allowedPermissions.has(permission)));
  ses.setPermissionCheckHandler((_webContents, permission) => allowedPermissions.has(permission));
  // file:// pages have no response headers (index.html carries the CSP as a meta tag);
  // anything loaded over HTTP(S) in this session gets the policy as a header too.
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [RENDERER_CSP_HEADER] } });
  });
}
