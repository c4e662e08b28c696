import { describe, expect, it } from 'vitest';
import { parseListen } from '../src/server.js';

describe('parseListen', () => {
  it('splits host and port, IPv6 in brackets', () => {
    expect(parseListen('127.0.0.1:9797')).toEqual({ host: '127.0.0.1', port: 9797 });
    expect(parseListen('[::1]:9797')).toEqual({ host: '::1', port: 9797 });
    expect(parseListen('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseListen('lokiban.internal:80')).toEqual({ host: 'lokiban.internal', port: 80 });
  });
});
