import type { DataSourceSettings } from '@grafana/data';
import { fireEvent, render, screen } from '@testing-library/react';
import React from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { LokibanOptions, LokibanSecureOptions } from '../types';
import { ConfigEditor } from './config-editor';

function settings(overrides: Partial<DataSourceSettings<LokibanOptions, LokibanSecureOptions>> = {}) {
  return {
    id: 1,
    uid: 'lokiban',
    orgId: 1,
    name: 'lokiban',
    type: 'lokiban-responder-datasource',
    typeName: 'lokiban responder',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    jsonData: { url: 'http://127.0.0.1:9797' },
    secureJsonFields: {},
    ...overrides,
  } as DataSourceSettings<LokibanOptions, LokibanSecureOptions>;
}

describe('ConfigEditor', () => {
  it('puts tokens in secureJsonData and the URL in jsonData', () => {
    const onOptionsChange = vi.fn();
    render(<ConfigEditor options={settings()} onOptionsChange={onOptionsChange} />);
    const [url, apiToken, adminToken] = screen
      .getAllByRole('textbox')
      .concat(Array.from(document.querySelectorAll('input[type="password"]')) as HTMLElement[]);
    fireEvent.change(url!, { target: { value: 'http://lokiban:9797' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ jsonData: { url: 'http://lokiban:9797' } }),
    );
    fireEvent.change(apiToken!, { target: { value: 'read-token-value-0123' } });
    const afterRead = onOptionsChange.mock.lastCall![0];
    expect(afterRead.secureJsonData).toEqual({ apiToken: 'read-token-value-0123' });
    expect(JSON.stringify(afterRead.jsonData)).not.toContain('read-token-value-0123');
    fireEvent.change(adminToken!, { target: { value: 'admin-token-value-0123' } });
    expect(onOptionsChange.mock.lastCall![0].secureJsonData).toEqual({
      adminToken: 'admin-token-value-0123',
    });
  });

  it('shows a stored token as configured, without its value, and can reset it', () => {
    const onOptionsChange = vi.fn();
    render(
      <ConfigEditor
        options={settings({ secureJsonFields: { apiToken: true } })}
        onOptionsChange={onOptionsChange}
      />,
    );
    expect((screen.getByDisplayValue('configured') as HTMLInputElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Reset' }));
    expect(onOptionsChange.mock.lastCall![0].secureJsonFields).toEqual({ apiToken: false });
  });
});
