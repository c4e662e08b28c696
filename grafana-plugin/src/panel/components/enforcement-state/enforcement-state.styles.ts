import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => ({
  state: css({
    display: 'inline-flex',
    alignItems: 'center',
    verticalAlign: 'middle',
    gap: theme.spacing(0.5),
    whiteSpace: 'nowrap',
    minWidth: 0,
  }),
  applied: css({ color: theme.colors.success.text }),
  pending: css({ color: theme.colors.warning.text }),
  failed: css({ color: theme.colors.error.text, fontWeight: theme.typography.fontWeightMedium }),
  none: css({ color: theme.colors.text.secondary }),
});
