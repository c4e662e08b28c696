import { css } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';

export const getStyles = (theme: GrafanaTheme2) => ({
  section: css({ marginBottom: theme.spacing(3), maxWidth: 880 }),
  list: css({ margin: 0, paddingLeft: theme.spacing(2.5), '& > li': { marginBottom: theme.spacing(0.5) } }),
  muted: css({ color: theme.colors.text.secondary }),
  link: css({ color: theme.colors.text.link, '&:hover': { textDecoration: 'underline' } }),
});
