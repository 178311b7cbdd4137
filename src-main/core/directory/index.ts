/** The directory side of Rolecall: LDAP/AD authentication and group resolution. */
export { createDirectory, type Directory, type DirectoryOptions, type DirectoryUser } from './directory.js';
export { DirectoryError, parseAdSubCode, adSubCodeFailure, type DirectoryFailure } from './errors.js';
export { escapeFilterValue, escapeDnValue } from './escape.js';
export { passwordExpiryWarning, type PasswordExpiryWarning } from './expiry-warning.js';
export { parseLogin, userSearchFilter, type LoginSearch, type SearchTerm } from './login.js';
export { permittedGroups } from './permitted.js';
export type { DirectoryCounters, DirectoryReport, DirectoryServerStatus, DiscoveryReport } from './report.js';
export { orderSrvRecords, type SrvRecord } from './srv-order.js';
