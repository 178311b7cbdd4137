export {
  HistoryStore,
  toCsv,
  defaultHistoryPath,
  outcomes,
  type ConnectionRecord,
  type HistoryQuery,
  type Outcome,
  type SummaryBucket,
} from './history-store.js';
export { buildHistoryQuery, type HistorySql } from './query-sql.js';
export { historySink } from './proxy-history.js';
