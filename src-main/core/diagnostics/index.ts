/** Checks that change nothing: the directory, the database, one login's access, the team broker. The app and `rolecall doctor` both run them. */
export { checkDirectory, type DirectoryCheck } from './directory-check.js';
export { serversReportLines, type ServerLine, type ServersReport } from './directory-servers.js';
export { checkDatabase, checkDatabaseAs, type DatabaseCheck, type DatabaseCheckOptions } from './database-check.js';
export { checkAccess, AccessCheckError, type AccessCheck, type AccessPreview } from './access-check.js';
export type { BrokerStep, CheckHints, DatabaseStep, DirectoryStep, SecretLookup, Step } from './steps.js';
export { checkBroker, type BrokerCheck, type BrokerUrlCheck } from './broker-check.js';
export { checkAccessThroughBroker, type BrokerAccessPort } from './broker-access-check.js';
