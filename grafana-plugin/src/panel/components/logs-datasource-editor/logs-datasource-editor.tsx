import type { StandardEditorProps } from '@grafana/data';
import { DataSourcePicker } from '@grafana/runtime';
import React from 'react';

/** Grafana's own datasource picker, limited to Loki; dashboard variables may be chosen too. */
export function LogsDatasourceEditor({ value, onChange }: StandardEditorProps<string>) {
  return (
    <DataSourcePicker
      current={value || null}
      type="loki"
      variables
      noDefault
      onChange={(settings) => onChange(settings.uid)}
      onClear={() => onChange('')}
    />
  );
}
