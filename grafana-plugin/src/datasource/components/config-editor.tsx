import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Field, Input, SecretInput, Stack, Text } from '@grafana/ui';
import React, { type ChangeEvent } from 'react';
import type { LokibanOptions, LokibanSecureOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<LokibanOptions, LokibanSecureOptions>;
type SecretKey = keyof LokibanSecureOptions;

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const secureFields = options.secureJsonFields ?? {};
  const setSecret = (key: SecretKey) => (event: ChangeEvent<HTMLInputElement>) =>
    onOptionsChange({ ...options, secureJsonData: { ...options.secureJsonData, [key]: event.target.value } });
  const resetSecret = (key: SecretKey) => () =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secureFields, [key]: false },
      secureJsonData: { ...options.secureJsonData, [key]: '' },
    });

  return (
    <Stack direction="column" gap={1}>
      <Text color="secondary">
        Grafana's server calls the responder and adds the token itself: tokens never reach the browser.
      </Text>
      <Field label="Responder URL" description="As seen from the Grafana server, e.g. http://lokiban:9797">
        <Input
          width={50}
          value={options.jsonData.url ?? ''}
          placeholder="http://127.0.0.1:9797"
          onChange={(event: ChangeEvent<HTMLInputElement>) =>
            onOptionsChange({ ...options, jsonData: { ...options.jsonData, url: event.target.value } })
          }
        />
      </Field>
      <Field label="API token (read)" description="A token with role read, used for every query.">
        <SecretInput
          width={50}
          isConfigured={Boolean(secureFields.apiToken)}
          value={options.secureJsonData?.apiToken ?? ''}
          onChange={setSecret('apiToken')}
          onReset={resetSecret('apiToken')}
        />
      </Field>
      <Field
        label="Admin token (unban, extend)"
        description="Optional. A token with role admin, used only when an Editor unbans or extends a ban."
      >
        <SecretInput
          width={50}
          isConfigured={Boolean(secureFields.adminToken)}
          value={options.secureJsonData?.adminToken ?? ''}
          onChange={setSecret('adminToken')}
          onReset={resetSecret('adminToken')}
        />
      </Field>
    </Stack>
  );
}
