import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../errors.js';
import { isRetryable, isUnavailable, toStoreError } from './connection.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('classifying Postgres errors', () => {
  it('treats reachability and time failures as unavailability', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P03', '53300', '57014', '08006']) {
      expect(isUnavailable(withCode(code)), code).toBe(true);
    }
    expect(isUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    // Node reports a refused dual-stack connect as an AggregateError of the attempts.
    expect(isUnavailable(new AggregateError([withCode('ECONNREFUSED')], ''))).toBe(true);
  });

  it('keeps bad statements, bad data and violated constraints as they are', () => {
    for (const code of ['23505', '22021', '42P01', '40001']) {
      expect(isUnavailable(withCode(code)), code).toBe(false);
    }
    const bug = withCode('42703', 'column "nope" does not exist');
    expect(toStoreError(bug, 'x')).toBe(bug);
  });

  it('wraps unavailability in StoreUnavailableError, keeping the cause', () => {
    const cause = withCode('57P01', 'terminating connection due to administrator command');
    const wrapped = toStoreError(cause, 'record batch');
    expect(wrapped).toBeInstanceOf(StoreUnavailableError);
    expect((wrapped as Error).message).toContain('record batch');
    expect((wrapped as Error).cause).toBe(cause);
  });

  it('retries only serialisation failures and deadlocks', () => {
    expect(isRetryable(withCode('40001'))).toBe(true);
    expect(isRetryable(withCode('40P01'))).toBe(true);
    expect(isRetryable(withCode('23505'))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });
});
