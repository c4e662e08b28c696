import { DataSourcePlugin } from '@grafana/data';
import { ConfigEditor } from './components/config-editor';
import { QueryEditor } from './components/query-editor';
import { LokibanDatasource } from './datasource';
import type { LokibanOptions, LokibanQuery, LokibanSecureOptions } from './types';

export const plugin = new DataSourcePlugin<
  LokibanDatasource,
  LokibanQuery,
  LokibanOptions,
  LokibanSecureOptions
>(LokibanDatasource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
