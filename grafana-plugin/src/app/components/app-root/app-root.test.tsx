import type { AppRootProps, DataSourceInstanceSettings } from '@grafana/data';
import { setDataSourceSrv } from '@grafana/runtime';
import { render, screen } from '@testing-library/react';
import React from 'react';
import { describe, expect, it } from 'vitest';
import { DATASOURCE_TYPE, TEST_IDS } from '../../constants';
import { AppRoot } from './app-root';

function withDatasources(list: Array<Pick<DataSourceInstanceSettings, 'uid' | 'name' | 'type'>>) {
  const asked: unknown[] = [];
  setDataSourceSrv({
    getList: (filters: unknown) => {
      asked.push(filters);
      return list;
    },
  } as never);
  return asked;
}

const props = {} as AppRootProps;

describe('app page', () => {
  it('offers to add a responder datasource when there is none', () => {
    const asked = withDatasources([]);
    render(<AppRoot {...props} />);
    expect(asked).toEqual([{ type: DATASOURCE_TYPE }]);
    expect(screen.getByTestId(TEST_IDS.noDatasource).textContent).toContain(
      'No lokiban responder datasource',
    );
    expect(screen.getByRole('link', { name: /Add a datasource/ }).getAttribute('href')).toBe(
      'connections/datasources/new',
    );
  });

  it('links each responder datasource and the bundled dashboards', () => {
    withDatasources([
      { uid: 'lokiban', name: 'lokiban', type: DATASOURCE_TYPE },
      { uid: 'lkb/eu', name: 'lokiban EU', type: DATASOURCE_TYPE },
    ]);
    render(<AppRoot {...props} />);
    expect(screen.getAllByTestId(TEST_IDS.datasource)).toHaveLength(2);
    expect(screen.getByRole('link', { name: 'lokiban EU' }).getAttribute('href')).toBe(
      'connections/datasources/edit/lkb%2Feu',
    );
    expect(screen.getByRole('link', { name: 'Bans' }).getAttribute('href')).toBe('d/lokiban-bans');
    expect(screen.queryByTestId(TEST_IDS.noDatasource)).toBeNull();
  });
});
