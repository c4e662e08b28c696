import type { InterpolateFunction } from '@grafana/data';
import { config, getDataSourceSrv } from '@grafana/runtime';
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { BanRow } from '../shared/frames';
import { exploreUrl, type JailLogs, logsQuery } from '../shared/logs-link';
import type { LokibanResponderApi } from '../shared/responder-api';

export interface LogsLink {
  /** Explore's URL for the ban's log lines, or undefined when there is no Loki datasource. */
  href(row: BanRow): string | undefined;
  /** Why there is no link, for the tooltip of the disabled one. */
  unavailable?: string;
}

/**
 * Resolves the Loki datasource (the panel option, which may be a dashboard variable, or else the
 * first Loki datasource) and the jails' settings once, and builds each ban's Explore link from them.
 */
export function useLogsLink(
  api: LokibanResponderApi | undefined,
  datasourceOption: string,
  selector: string,
  replaceVariables: InterpolateFunction,
): LogsLink {
  const wanted = replaceVariables(datasourceOption).trim();
  const loki = useMemo(() => {
    const srv = getDataSourceSrv();
    const settings = wanted ? srv.getInstanceSettings(wanted) : srv.getList({ type: 'loki' })[0];
    return settings?.type === 'loki' ? { uid: settings.uid, type: settings.type } : undefined;
  }, [wanted]);

  const [jails, setJails] = useState<ReadonlyMap<string, JailLogs>>(new Map());
  useEffect(() => {
    if (!api) return;
    let current = true;
    api.jails().then(
      (list) => current && setJails(new Map(list.map((jail) => [jail.name, jail]))),
      // Without the jails' settings the link still works, with the default window.
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [api]);

  const href = useCallback(
    (row: BanRow) =>
      loki
        ? exploreUrl(loki, logsQuery(row, jails.get(row.jail), selector), config.bootData?.user?.orgId)
        : undefined,
    [loki, jails, selector],
  );
  return loki
    ? { href }
    : {
        href,
        unavailable: wanted
          ? `“${wanted}” is not a Loki datasource: set “Logs datasource” in the panel options.`
          : 'No Loki datasource: add one, or set “Logs datasource” in the panel options.',
      };
}
