/**
 * The database cannot be reached or did not answer in time (connection refused or lost, server
 * shutting down or starting up, statement or connect timeout). Nothing of the failed call was made
 * durable. The HTTP layer answers 503 for it (webhooks, so Alertmanager retries; /readyz), and the
 * dispatcher simply tries again on its next tick.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
