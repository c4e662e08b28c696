import { config } from '@grafana/runtime';

/** Editors and Admins may change bans; the data proxy route enforces the same role server side. */
export function canChangeBans(): boolean {
  const user = config.bootData?.user;
  if (!user) return false;
  return user.isGrafanaAdmin === true || user.orgRole === 'Editor' || user.orgRole === 'Admin';
}
