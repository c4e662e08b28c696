import type { AppRootProps } from '@grafana/data';
import { getDataSourceSrv, PluginPage } from '@grafana/runtime';
import { Alert, LinkButton, useStyles2 } from '@grafana/ui';
import React from 'react';
import { DASHBOARDS, DATASOURCE_TYPE, TEST_IDS } from '../../constants';
import { getStyles } from './app-root.styles';

/**
 * The app's one page: which responder datasources exist (and a way to add one), and the dashboards
 * the app brings. Everything else lives in the panel and the datasource. Plain anchors: Grafana
 * routes in-app links itself, and @grafana/ui's TextLink needs a router context outside Grafana.
 */
export function AppRoot(_props: AppRootProps) {
  const styles = useStyles2(getStyles);
  const datasources = getDataSourceSrv().getList({ type: DATASOURCE_TYPE });
  return (
    <PluginPage>
      <div data-testid={TEST_IDS.root}>
        <section className={styles.section}>
          <h3>Responder datasources</h3>
          {datasources.length === 0 ? (
            <Alert
              severity="info"
              title="No lokiban responder datasource yet"
              data-testid={TEST_IDS.noDatasource}
            >
              <p>
                Add one with the responder’s URL as seen from the Grafana server and a read token (an admin
                token too, if Editors may unban). Grafana keeps the tokens encrypted and adds them server
                side.
              </p>
              <LinkButton href="connections/datasources/new" icon="plus" variant="primary">
                Add a datasource
              </LinkButton>
            </Alert>
          ) : (
            <ul className={styles.list}>
              {datasources.map((datasource) => (
                <li key={datasource.uid} data-testid={TEST_IDS.datasource}>
                  <a
                    className={styles.link}
                    href={`connections/datasources/edit/${encodeURIComponent(datasource.uid)}`}
                  >
                    {datasource.name}
                  </a>{' '}
                  <span className={styles.muted}>
                    (uid {datasource.uid}; “Save &amp; test” there checks the URL and the token)
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section className={styles.section}>
          <h3>Dashboards</h3>
          <ul className={styles.list}>
            {DASHBOARDS.map((dashboard) => (
              <li key={dashboard.uid}>
                <a className={styles.link} href={`d/${dashboard.uid}`}>
                  {dashboard.title}
                </a>{' '}
                <span className={styles.muted}>{dashboard.description}</span>
              </li>
            ))}
          </ul>
        </section>
      </div>
    </PluginPage>
  );
}
