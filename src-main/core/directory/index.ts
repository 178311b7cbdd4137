/** The directory side of Rolecall: LDAP/AD authentication and group resolution. */
export { createDirectory, type Directory, type DirectoryUser } from './directory.js';
export { DirectoryError, parseAdSubCode, adSubCodeFailure, type DirectoryFailure } from './errors.js';
export { escapeFilterValue, escapeDnValue } from './escape.js';
export { loginSearchValue, userSearchFilter, type LoginSearch } from './login.js';
export { permittedGroups } from './permitted.js';
