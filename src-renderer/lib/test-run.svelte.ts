import { messageOf } from './api.js';

/** One "Test ..." button's state: running, its last result, or why it could not run. */
export class TestRun<T> {
  testing = $state(false);
  result = $state<T | null>(null);
  error = $state<string | null>(null);

  /** Runs the test; never throws (a failure shows as `error`). */
  async run(test: () => Promise<T>): Promise<void> {
    this.testing = true;
    this.error = null;
    try {
      this.result = await test();
    } catch (e) {
      this.result = null;
      this.error = messageOf(e);
    } finally {
      this.testing = false;
    }
  }

  clear(): void {
    this.result = null;
    this.error = null;
  }
}
